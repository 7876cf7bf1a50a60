"""The status line: drawn by rich on a terminal only, plain lines elsewhere, NO_COLOR kept."""

from __future__ import annotations

import pytest

from gotrace.terminal import StatusLine


def test_nothing_but_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]):
    status = StatusLine(tty=False)
    status.show("1/3 run-a")
    status.say("quiet for 5 s: pid 1 waiting")
    status.close()
    assert capsys.readouterr().err == "gotrace: quiet for 5 s: pid 1 waiting\n"


def _drawn(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: draw as on a terminal
    status = StatusLine(tty=True)
    status.show("0.5 s  3 threads/processes")
    status.say("quiet for 5 s: pid 1 waiting")
    status.show("1.0 s  3 threads/processes")
    status.close()
    return capsys.readouterr().err


def test_redrawn_in_place_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("NO_COLOR", raising=False)
    err = _drawn(monkeypatch, capsys)
    assert "\r\x1b[2K" in err and "\x1b[2m0.5 s  3 threads/processes" in err
    assert "quiet for 5 s: pid 1 waiting\n" in err
    assert err.endswith("\x1b[2K")  # gone once closed


def test_no_color_gives_plain_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("NO_COLOR", "1")
    err = _drawn(monkeypatch, capsys)
    assert "\x1b[2m" not in err and "1.0 s  3 threads/processes" in err
