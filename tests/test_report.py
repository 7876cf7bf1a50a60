"""The HTML report and the figures: rendered in a real headless Chromium.

The browser tests run Debian's ``chromium`` (skipped, with the reason, when it is not on
PATH). It is started with networking locked to nothing: every host name resolves to
NOTFOUND and every proxy goes to a closed loopback port, and its net log is checked for any
request the page made. Console messages (``--enable-logging=stderr`` prints them as
``CONSOLE`` lines) fail the test, whatever their level: the page logs nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import gotrace
from gotrace.cli.app import app
from gotrace.reporters import figures
from gotrace.reporters.html import render_html, script_json

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
FALLBACK = ROOT / "tests/data/strace/go_mod_download_http.strace"
SAMPLE = SAMPLES / "proxy-stall" if (SAMPLES / "proxy-stall/trace.strace").exists() else FALLBACK
CHARTS = ("timeline", "network", "modules")
XSS = "<img src=x onerror=alert(1)>"
XSS_LOG = f"""\
1000  1700000000.000100 execve("/usr/bin/go", ["go", "mod", "download", "{XSS}"], 0x7ffd3c1e8a40 /* 3 vars */) = 0 <0.000200>
1000  1700000000.000500 openat(AT_FDCWD, "/tmp/{XSS}", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory) <0.000010>
1000  1700000000.001000 openat(AT_FDCWD, "/tmp/{XSS}", O_WRONLY|O_CREAT|O_CLOEXEC, 0644) = 3</tmp/{XSS}> <0.000010>
1000  1700000000.002000 write(3</tmp/{XSS}>, "<script>alert(2)</script>", 25) = 25 <0.000010>
1000  1700000000.003000 read(0</dev/null>,  <unfinished ...>
1000  1700000002.500000 +++ killed by SIGKILL +++
"""
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install -y chromium)"
)


def sample_dirs() -> list[Path]:
    return sorted(p.parent for p in SAMPLES.glob("*/trace.strace")) or [FALLBACK]


def report(tmp_path: Path, *args: str, name: str = "report.html") -> Path:
    out = tmp_path / name
    r = CliRunner().invoke(app, ["report", *args, "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def data_block(page: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="gotrace-data">(.*?)</script>', page, re.S)
    assert m, "no data block"
    value = json.loads(m.group(1))
    assert isinstance(value, dict)
    return value


# -- the page, without a browser -----------------------------------------------------------
def test_same_trace_gives_the_same_bytes(tmp_path: Path) -> None:
    a = report(tmp_path, str(SAMPLE), name="a.html").read_bytes()
    b = report(tmp_path, str(SAMPLE), name="b.html").read_bytes()
    assert a == b
    # and in-process, from a fresh load each time
    assert render_html(gotrace.load(SAMPLE).report) == render_html(gotrace.load(SAMPLE).report)


def test_cdn_links_plotly_instead_of_inlining_it(tmp_path: Path) -> None:
    inline = report(tmp_path, str(SAMPLE), name="inline.html").read_text()
    cdn = report(tmp_path, str(SAMPLE), "--cdn", name="cdn.html").read_text()
    assert re.search(r'<script src="https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js"', cdn)
    assert "<script src=" not in inline
    assert len(inline) - len(cdn) > 3_000_000  # plotly.js is a few MB
    assert len(cdn) < 2_000_000
    assert data_block(inline) == data_block(cdn)


def test_report_never_overwrites_without_force(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("keep me")
    cmd = [sys.executable, "-m", "gotrace", "report", str(SAMPLE), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "already exists" in r.stderr and out.read_text() == "keep me"
    r = subprocess.run([*cmd, "--force"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("trace", sample_dirs(), ids=lambda p: p.name)
def test_every_sample_renders_with_its_verdict(trace: Path) -> None:
    import html

    t = gotrace.load(trace)
    page = render_html(t.report)
    assert html.escape(t.verdict) in page
    for chart in CHARTS:
        assert f'<div class="chart" id="{chart}"></div>' in page
    data = data_block(page)
    assert sorted(data["figures"]) == sorted(CHARTS)  # type: ignore[call-overload]
    assert len(data["findings"]) == len(t.report.findings)  # type: ignore[arg-type]
    # the figures are valid plotly figures (plotly validates every property)
    for fig in (t.timeline(), t.network_waterfall(), t.module_waterfall()):
        assert fig.to_dict()["data"] is not None


def test_meta_env_is_redacted(tmp_path: Path) -> None:
    t = gotrace.load(SAMPLE)
    t = t.replace(
        meta={
            **t.meta,
            "env": {"GOPROXY": "https://bob:hunter2@proxy.example", "GITHUB_TOKEN": "ghp_secret"},
            "go_env": {"GOPROXY": "https://bob:hunter2@proxy.example", "GOFLAGS": "-mod=mod"},
        }
    )
    page = render_html(t.report)
    assert "hunter2" not in page and "ghp_secret" not in page
    assert "[REDACTED]" in page
    assert "hunter2" in render_html(t.report, redact=False)


def test_script_json_cannot_close_the_script_or_start_a_tag() -> None:
    value = {"b": "</script><img src=x>&amp;\u2028\u2029", "a": [1.5, float("nan")]}
    text = script_json(value)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text
    assert json.loads(text) == {"a": [1.5, None], "b": value["b"]}
    assert text.index('"a"') < text.index('"b"')  # sorted keys


def test_trace_strings_are_escaped_in_the_markup(tmp_path: Path) -> None:
    log = tmp_path / "xss.strace"
    log.write_text(XSS_LOG)
    page = report(tmp_path, str(log)).read_text()
    body = page.split("</head>", 1)[1]
    assert "<img" not in body and "<script>alert" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_no_timestamps_and_no_modules_give_charts_that_say_so() -> None:
    t = gotrace.load(ROOT / "tests/data/strace/plain.strace")
    for fig in (t.timeline(), t.network_waterfall(), t.module_waterfall()):
        assert "no timestamps" in fig.layout.annotations[0].text
    page = render_html(t.report)
    assert "no timestamps" in page
    ok = gotrace.load(SAMPLE)
    empty = figures.module_waterfall(dataclasses.replace(ok.report, modules=ok.report.modules[0:0]))
    assert "no module" in empty.layout.annotations[0].text
    assert (
        figures.module_waterfall(dataclasses.replace(ok.report, modules=pl.DataFrame())).data == ()
    )


def test_a_big_trace_is_counted_into_buckets_with_long_and_in_flight_calls_kept() -> None:
    t = gotrace.load(SAMPLE)
    fig = figures.timeline(t.report, max_bars=100)
    kinds = {tr.type for tr in fig.data}
    assert "heatmap" in kinds
    flying = [tr for tr in fig.data if tr.name and tr.name.endswith("(in flight)")]
    in_flight = int(t.frame["in_flight"].sum())
    assert sum(len([x for x in tr.x if x is not None]) // 2 for tr in flying) == in_flight
    counted = sum(
        sum(n for row in tr.z for n in row if n is not None)
        for tr in fig.data
        if tr.type == "heatmap"
    )
    drawn = sum(
        len([x for x in tr.x if x is not None]) // 2 for tr in fig.data if tr.type == "scatter"
    )
    calls = t.frame.filter((pl.col("kind") == "syscall") & pl.col("ts").is_not_null()).height
    assert counted + drawn == calls
    # below max_bars every call is drawn on its own
    full = figures.timeline(t.report)
    assert {tr.type for tr in full.data} == {"scatter"}
    assert sum(len([x for x in tr.x if x is not None]) // 2 for tr in full.data) == calls


def test_processes_beyond_max_lanes_share_one_lane() -> None:
    base = gotrace.load(SAMPLE)
    f = base.frame
    copies = [
        f.with_columns(pid=pl.col("pid") + k * 100_000, ts=pl.col("ts") + k * 0.001)
        for k in range(30)
    ]
    t = gotrace.Trace(frame=pl.concat(copies), meta=dict(base.meta))
    fig = figures.timeline(t.report)
    labels = list(fig.layout.yaxis.ticktext)
    assert len(labels) == 24
    assert labels[-1].endswith("other processes")


# -- in a real browser ---------------------------------------------------------------------
def chromium(tmp_path: Path, url: str, *extra: str) -> tuple[str, list[str], list[str]]:
    """Run headless Chromium on ``url``: (stdout, console lines, URLs the page asked for)."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    netlog = profile.with_suffix(".netlog.json")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={profile}",
        # nothing can leave the machine: no name resolves, every proxy is a closed port
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
        f"--log-net-log={netlog}",
        "--window-size=1400,2400",
        *extra,
        url,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return r.stdout, console, page_requests(netlog)


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests a file:// page started (the browser's own pings are blocked by
    the resolver rules, and are not the page's: their isolation key is not file://)."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log cut short: close the events array
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    out = []
    for ev in log["events"]:
        p = ev.get("params") or {}
        if names.get(ev["type"]) == "URL_REQUEST_START_JOB" and "file://" in str(
            p.get("network_isolation_key", "")
        ):
            out.append(str(p.get("url")))
    return out


def sections(dom: str) -> dict[str, str]:
    out = {}
    for part in dom.split("<section ")[1:]:
        m = re.match(r'id="([^"]+)"', part)
        if m:
            out[m.group(1)] = part
    return out


def png_colours(data: bytes) -> int:
    """Distinct colours of an 8-bit RGB/RGBA PNG (stdlib only: zlib and the five filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    width = height = ctype = depth = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        f = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp))
        prev = line
    return len(colours)


@needs_chromium
def test_the_browser_checks_can_fail(tmp_path: Path) -> None:
    """The checks below are not vacuous: this Chromium reports console messages and uncaught
    errors as CONSOLE lines, and the page's requests in its net log."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<p>x</p><script>console.error("boom"); missing();</script>'
        '<img src="http://example.invalid/x.png">'
    )
    _, console, requests = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("boom" in line for line in console)
    assert any("missing is not defined" in line for line in console)
    assert requests == ["http://example.invalid/x.png"]


@needs_chromium
def test_report_renders_in_chromium_without_errors_or_requests(tmp_path: Path) -> None:
    page = report(tmp_path, str(SAMPLE))
    dom, console, requests = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert console == []
    assert requests == []
    parts = sections(dom)
    for chart in CHARTS:
        part = parts[f"section-{chart}"]
        assert re.search(rf'<div class="chart[^"]*" id="{chart}"', part)
        assert 'class="main-svg"' in part, f"plotly did not draw #{chart}"
    assert gotrace.load(SAMPLE).verdict.split("`")[0].strip()[:40] in dom


@needs_chromium
def test_screenshot_is_not_blank(tmp_path: Path) -> None:
    page = report(tmp_path, str(SAMPLE))
    shot = tmp_path / "shot.png"
    _, console, _ = chromium(tmp_path, page.as_uri(), f"--screenshot={shot}")
    assert console == []
    assert png_colours(shot.read_bytes()) > 200  # a blank page has one or two


@needs_chromium
def test_xss_file_name_stays_text_in_chromium(tmp_path: Path) -> None:
    log = tmp_path / "xss.strace"
    log.write_text(XSS_LOG)
    page = report(tmp_path, str(log))
    dom, console, requests = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert console == []  # no alert, no error
    assert requests == []  # <img src=x> never became a request
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert not re.search(r"<img\b", dom, re.I)
    assert not re.search(r"<script>alert", dom)


@needs_chromium
def test_finding_link_zooms_the_timeline(tmp_path: Path) -> None:
    t = gotrace.load(SAMPLE)
    page = report(tmp_path, str(SAMPLE))
    timed = [
        (f.end - f.start, i)
        for i, f in enumerate(t.report.findings)
        if f.start is not None and f.end is not None and f.end > f.start
    ]
    if not timed:
        pytest.skip("no finding with a time span in this trace")
    _, narrowest = min(timed)

    def ticks(url: str) -> list[str]:
        dom, console, _ = chromium(tmp_path, url, "--dump-dom")
        assert console == []
        part = sections(dom)["section-timeline"]
        return re.findall(r'<g class="xtick"><text[^>]*>([^<]*)</text>', part)

    whole = ticks(page.as_uri())
    zoomed = ticks(page.as_uri() + f"#finding-{narrowest + 1}")
    assert whole and zoomed and whole != zoomed


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH")
def test_run_html_writes_the_same_page_as_report(tmp_path: Path) -> None:
    out, page = tmp_path / "run", tmp_path / "run.html"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gotrace",
            "run",
            "--html",
            str(page),
            "-o",
            str(out),
            "--",
            "/bin/true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    again = report(tmp_path, str(out), name="again.html")
    assert page.read_bytes() == again.read_bytes()


def test_the_connection_table_names_tunnels_tls_and_children() -> None:
    tunnel = SAMPLES / "connect-tls-stall"
    git = SAMPLES / "git-stall"
    if not (tunnel / "trace.strace").exists() or not (git / "trace.strace").exists():
        pytest.skip("no sample traces in this tree")
    page = render_html(gotrace.load(tunnel).report)
    assert "CONNECT tunnel to proxy.golang.org:443" in page
    assert "TLS established TLS 1.3 SNI proxy.golang.org" in page
    page = render_html(gotrace.load(git).report)
    assert "by /usr/lib/git-core/git-remote-http http://git.example.test/m.git" in page
