"""gotrace.goconfig: the one GOPROXY rule that both the doctor and the analysis explain."""

from __future__ import annotations

import pytest

from gotrace.goconfig.goproxy import explain_goproxy, fallback, goproxy_notes, parse_goproxy


@pytest.mark.parametrize(
    ("value", "rules"),
    [
        ("http://a,http://b|direct", ["not-found", "any-error", "direct"]),
        ("http://a|http://b", ["any-error", "final"]),
        ("off,http://ignored", ["off"]),
        ("http://a,", ["final"]),
        ("example.com/p,direct", ["not-found", "direct"]),
    ],
)
def test_fallback_rule(value: str, rules: list[str]) -> None:
    plist = parse_goproxy(value)
    assert [fallback(plist, i) for i in range(len(plist.entries))] == rules


def test_doctor_and_analysis_explain_the_same_rule() -> None:
    value = "http://a,http://b|http://c"
    doctor = explain_goproxy(parse_goproxy(value))
    notes = goproxy_notes(value)
    assert "only a 404 or 410 sends go on to http://b" in doctor[0]
    assert "`,`: go tries the next entry only on 404/410" in notes[0]
    assert "on any error" in doctor[1] and "`|`: any error falls back" in notes[1]
    assert (
        "the last entry" in doctor[2]
        and notes[2] == "GOPROXY ends with http://c: an error on it is final"
    )


def test_off_and_empty() -> None:
    assert goproxy_notes("off") == [
        "GOPROXY=off: go may not download any module; only the module cache is used"
    ]
    assert goproxy_notes("")[0].startswith("GOPROXY=off")
    assert parse_goproxy("").error
