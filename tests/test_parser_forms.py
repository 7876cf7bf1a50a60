"""Every strace output form the parser must read, each on real strace 6.1 output
captured by tests/data/strace/capture.sh (see the README there)."""

from __future__ import annotations

import io
import re

import polars as pl
import pytest
from conftest import DATA, parse, raw_lines, syscalls

from gotrace.model.events import Exec, Exit, Kill, ParseError, Signal, Syscall, TraceParseError
from gotrace.parsers.strace import ff_files, iter_events, parse_ff, parse_text


def test_plain_log_has_no_pid_and_no_time():
    df = parse("plain.strace")
    assert df.filter(pl.col("kind") == "parse_error").height == 0
    assert df["ts"].null_count() == df.height
    # one process, no prefix: every line gets the same placeholder pid
    assert df["pid"].n_unique() == 1
    first = df.row(0, named=True)
    assert first["syscall"] == "execve" and first["retval"] == 0


def test_f_o_pid_prefix_every_line_has_its_pid():
    df = parse("f_pid.strace")
    lines = raw_lines("f_pid.strace")
    pids = {int(m.group(1)) for m in (re.match(r"^(\d+) ", ln) for ln in lines) if m}
    assert set(df["pid"].unique().to_list()) == pids
    assert len(pids) >= 2


def test_stderr_pid_prefix_comes_and_goes_and_unprefixed_lines_get_the_first_pid():
    df = parse("stderr_pidprefix.strace")
    lines = raw_lines("stderr_pidprefix.strace")
    assert any(ln.startswith("[pid ") for ln in lines)
    assert any(re.match(r"^[a-z_]+\(", ln) for ln in lines)
    # the parent's pid is what getpid() returned in an unprefixed line
    getpid = syscalls(df, "getpid")
    if getpid.height:
        assert getpid["pid"][0] == getpid["retval"][0]
    unprefixed = [i + 1 for i, ln in enumerate(lines) if re.match(r"^[a-z_]+\(", ln)]
    main = df.filter(pl.col("line").is_in(unprefixed))["pid"].unique().to_list()
    assert len(main) == 1 and main[0] > 0


def test_ff_files_merge_by_time():
    files = ff_files(DATA / "ff" / "trace")
    assert len(files) >= 2
    df = parse_ff(files)
    assert set(df["pid"].unique().to_list()) == {pid for _, pid in files}
    ts = df["ts"].drop_nulls().to_list()
    assert ts == sorted(ts)
    assert df.filter(pl.col("kind") == "parse_error").height == 0


@pytest.mark.parametrize(
    ("name", "clock"),
    [("t.strace", "tod"), ("tt.strace", "tod"), ("ttt.strace", "epoch"), ("ttt_ns.strace", "epoch"),
     ("r.strace", "rel"), ("r_ns.strace", "rel"), ("t_r.strace", "tod")],
)  # fmt: skip
def test_timestamps_become_seconds(name: str, clock: str):
    df = parse(name)
    ts = df["ts"]
    assert ts.null_count() == 0
    values = ts.to_list()
    assert values == sorted(values), "single-process stamps never go back"
    if clock == "epoch":
        assert values[0] > 1e9
    elif clock == "tod":
        assert 0 <= values[0] < 86400
    else:
        assert values[0] < 1.0


def test_ns_precision_is_kept_to_the_float():
    df = parse("ttt_ns.strace")
    first = raw_lines("ttt_ns.strace")[0].split()[0]
    assert re.fullmatch(r"\d+\.\d{9}", first)
    assert df["ts"][0] == pytest.approx(float(first), abs=1e-6)


def test_relative_stamps_add_up():
    lines = raw_lines("r.strace")
    rel = [float(ln.split()[0]) for ln in lines]
    df = parse("r.strace")
    assert df["ts"][-1] == pytest.approx(sum(rel), abs=1e-9)


def test_t_r_adds_relative_stamps_to_the_clock():
    df = parse("t_r.strace")
    first = raw_lines("t_r.strace")[0]
    h, m, s = (int(x) for x in first.split()[0].split(":"))
    assert df["ts"][0] == pytest.approx(h * 3600 + m * 60 + s, abs=1.0)
    assert df["ts"][-1] > df["ts"][0]


@pytest.mark.parametrize("name", ["midnight_t.strace", "midnight_tt.strace"])
def test_t_and_tt_cross_midnight(name: str):
    lines = raw_lines(name)
    assert lines[0].startswith("23:59:") and any(ln.startswith("00:00:") for ln in lines)
    df = parse(name)
    ts = df["ts"].to_list()
    assert ts == sorted(ts)
    assert ts[-1] >= 86400  # the next day


@pytest.mark.parametrize("name", ["T.strace", "T_ns.strace", "T_s.strace"])
def test_T_durations_in_seconds(name: str):
    df = syscalls(parse(name))
    lines = raw_lines(name)
    durs = [re.search(r"<([\d.]+)>$", ln) for ln in lines]
    expect = [float(m.group(1)) for m in durs if m]
    got = df["duration"].drop_nulls().to_list()
    assert got == pytest.approx(expect)


def test_unfinished_and_resumed_become_one_event():
    df = parse("f_pid.strace")
    lines = raw_lines("f_pid.strace")
    n_unf = sum(ln.endswith("<unfinished ...>") for ln in lines)
    n_res = sum("resumed>" in ln for ln in lines)
    assert n_unf >= 1
    merged = df.filter(pl.col("end_line").is_not_null())
    assert merged.height == min(n_unf, n_res)
    for r in merged.iter_rows(named=True):
        head, tail = lines[r["line"] - 1], lines[r["end_line"] - 1]
        assert head.endswith("<unfinished ...>")
        assert f"<... {r['syscall']} resumed>" in tail
        assert not r["in_flight"]
    wait4 = syscalls(df, "wait4").filter(pl.col("end_line").is_not_null())
    assert wait4.height
    assert "WIFEXITED(s) && WEXITSTATUS(s) == 0" in wait4["args"][0]
    assert wait4["retval"][0] > 0


def test_unknown_syscall_resumed_and_never_returning_calls():
    df = parse("unknown_resumed.strace")
    unknown = syscalls(df, "???")
    assert unknown.height >= 1
    # "<... ??? resumed>) = ?" right before the process is gone: still in flight
    assert unknown["in_flight"].all()
    exit_group = syscalls(df, "exit_group")
    assert not exit_group["in_flight"].any(), "exit_group = ? is its normal end"


def test_calls_still_blocked_when_the_process_was_killed_stay_in_flight():
    df = parse("killed_outside.strace")
    flying = syscalls(df).filter(pl.col("in_flight"))
    assert flying.height == 1
    kills = df.filter(pl.col("kind") == "kill")
    assert kills["signal"].to_list() == ["SIGKILL"]
    assert flying["pid"][0] == kills["pid"][0]


def test_unavailable_result_is_in_flight():
    df = parse("unavailable.strace")
    lines = raw_lines("unavailable.strace")
    n = sum(ln.endswith("= ? <unavailable>") for ln in lines)
    assert n >= 1
    assert syscalls(df).filter(pl.col("in_flight")).height >= n


def test_detached_call_stays_in_flight():
    df = parse("detach.strace")
    assert raw_lines("detach.strace")[-1].endswith("<detached ...>")
    assert syscalls(df)["in_flight"].to_list()[-1] is True


def test_stderr_line_cut_by_strace_message_is_stitched():
    df = parse("attach_stderr.strace")
    assert df.filter(pl.col("kind") == "parse_error").height == 0
    read = syscalls(df, "read")
    assert read.height == 1 and read["in_flight"][0]
    notes = df.filter(pl.col("kind") == "notice")["text"].to_list()
    assert any("attached" in n for n in notes) and any("detached" in n for n in notes)


def test_log_that_ends_mid_line_keeps_the_blocked_call():
    lines = raw_lines("midline.strace")
    assert ") =" not in lines[-1] and not lines[-1].endswith("<unfinished ...>")
    df = parse("midline.strace")
    last = syscalls(df).tail(1).row(0, named=True)
    assert last["syscall"] == "read" and last["in_flight"]
    assert last["fd"] == 0


def test_return_values():
    df = syscalls(parse("signals.strace"))
    restart = df.filter(pl.col("errno").str.starts_with("ERESTART"))
    assert restart.height and not restart["in_flight"].any()
    assert syscalls(df, "restart_syscall").height
    plain = syscalls(parse("plain.strace"))
    enoent = plain.filter(pl.col("errno") == "ENOENT")
    assert enoent.height and (enoent["retval"] == -1).all()
    assert enoent["errmsg"][0] == "No such file or directory"
    brk = syscalls(plain, "brk")
    assert brk["retval"][0] > 0x1000 and brk["ret"][0].startswith("0x")


def test_injected_errors_are_marked():
    df = syscalls(parse("inject.strace"))
    inj = df.filter(pl.col("extra").str.contains("INJECTED"))
    assert inj.height >= 1
    assert inj["errno"].drop_nulls().len() >= 1


def test_timeout_suffix():
    text = "1795968225.1 poll([{fd=3, events=POLLIN}], 1, 100) = 0 (Timeout) <0.100123>\n"
    row = parse_text(text).row(0, named=True)
    assert (
        row["retval"] == 0
        and row["extra"] == "Timeout"
        and row["duration"] == pytest.approx(0.100123)
    )


def test_y_and_yy_annotations_split_into_fd_and_target():
    df = syscalls(parse("yy.strace"))
    acc = syscalls(df, "accept4")
    assert acc.height >= 2
    tcp = acc.filter(pl.col("ret_target").str.starts_with("TCP:"))
    assert tcp["ret_target"][0] == re.search(
        r"accept4\(.*= \d+<(TCP:\[[^\]]+\])>", "\n".join(raw_lines("yy.strace"))
    ).group(1)
    assert "->" in tcp["ret_target"][0]
    v6 = acc.filter(pl.col("ret_target").str.starts_with("TCPv6:"))
    assert v6.height and "[::1]" in v6["ret_target"][0]
    assert df.filter(pl.col("fd_target").str.starts_with("UDP:")).height
    assert df.filter(pl.col("fd_target").str.starts_with("UNIX")).height
    nested = df.filter(pl.col("fd_target").str.contains("<char "))
    assert nested.height, "0</dev/null<char 1:3>> keeps its nested detail"
    assert nested["fd_target"][0].startswith("/dev/")


def test_signals_exits_and_kills():
    df = parse("signals_f_Y_T.strace")
    sig = df.filter(pl.col("kind") == "signal")
    assert sig.height
    assert "si_signo=" in (sig["info"].drop_nulls()[0])
    stopped = parse("signals.strace").filter(pl.col("stopped").fill_null(False))
    assert stopped["signal"].to_list()[:1] == ["SIGSTOP"]
    exits = parse("exit_nonzero.strace").filter(pl.col("kind") == "exit")
    assert sorted(exits["status"].to_list())[-1] > 0
    segv = parse("segv.strace").filter(pl.col("kind") == "kill")
    assert segv["signal"][0] == "SIGSEGV" and segv["core_dumped"][0]


def test_superseded_by_execve():
    df = parse("superseded.strace")
    ex = df.filter(pl.col("kind") == "exec")
    assert ex.height == 1
    line = raw_lines("superseded.strace")[ex["line"][0] - 1]
    m = re.match(r"^(\d+) \+\+\+ superseded by execve in pid (\d+) \+\+\+$", line)
    assert m and ex["pid"][0] == int(m.group(1)) and ex["former_pid"][0] == int(m.group(2))


def test_stack_lines_attach_to_the_event_before():
    for name in ("k.strace", "k_f.strace"):
        df = parse(name)
        assert df.filter(pl.col("kind") == "parse_error").height == 0
        with_stack = df.filter(pl.col("stack").is_not_null())
        assert with_stack.height >= 1
        lines = raw_lines(name)
        first = with_stack.row(0, named=True)
        assert lines[first["line"]].startswith(" > ")
        assert first["stack"].split("\n")[0] == lines[first["line"]][3:]


def test_instruction_pointers_syscall_numbers_and_comm():
    i = parse("i.strace")
    assert i["ip"].drop_nulls().len() >= i.height - 1
    n = syscalls(parse("n.strace"))
    assert n.filter(pl.col("syscall") == "execve")["nr"][0] == 59
    y = parse("f_Y.strace")
    assert y["comm"].null_count() == 0
    all_ = parse("f_ttt_i_n_T_yy.strace")
    assert all_.filter(pl.col("kind") == "parse_error").height == 0
    assert all_["ts"].null_count() == 0 and all_["nr"].drop_nulls().len() > 0


def test_strings_structs_and_arrays_are_kept_verbatim():
    for name in (
        "args.strace",
        "args_x.strace",
        "args_xx.strace",
        "args_s8.strace",
        "args_X_verbose.strace",
    ):
        df = syscalls(parse(name))
        lines = raw_lines(name)
        for r in df.filter(pl.col("end_line").is_null()).iter_rows(named=True):
            assert f"{r['syscall']}({r['args']})" in lines[r["line"] - 1]


def test_summary_table_is_not_an_error():
    df = parse("summary_c.strace")
    assert df.filter(pl.col("kind") == "parse_error").height == 0


def test_lines_that_are_not_strace_become_parse_errors_with_line_numbers():
    text = "hello world\n123 1.0 getpid() = 5\n\x7fgarbage(\n"
    df = parse_text(text)
    errs = df.filter(pl.col("kind") == "parse_error")
    assert errs["line"].to_list() == [1, 3]
    with pytest.raises(TraceParseError) as exc:
        parse_text(text, strict=True)
    assert exc.value.line == 1


def test_iter_events_yields_frozen_dataclasses():
    evs = list(iter_events(DATA / "signals_f_Y_T.strace"))
    kinds = {type(e) for e in evs}
    assert Syscall in kinds and Signal in kinds and Exit in kinds
    e = next(x for x in evs if isinstance(x, Syscall))
    with pytest.raises(AttributeError):
        e.name = "x"  # type: ignore[misc]


def test_kill_and_exec_events():
    evs = list(iter_events(DATA / "superseded.strace"))
    assert any(isinstance(e, Exec) for e in evs)
    evs = list(iter_events(DATA / "segv.strace"))
    k = [e for e in evs if isinstance(e, Kill)]
    assert k and k[0].core_dumped


def test_parse_errors_are_events():
    evs = list(iter_events(io.StringIO("nonsense\n")))
    assert isinstance(evs[0], ParseError) and evs[0].line == 1


def test_chunked_parsing_gives_the_same_frame():
    whole = parse("go_mod_download.strace")
    from gotrace.parsers.strace import parse_frames

    chunked = pl.concat(list(parse_frames(DATA / "go_mod_download.strace", chunk_lines=97)))
    assert chunked.sort("line").equals(whole.sort("line"))


@pytest.mark.parametrize(
    "name", ["go_mod_download.strace", "unavailable_resumed.strace", "spliced_f.strace"]
)
def test_pairs_across_chunks_are_stitched_as_in_one_chunk(name: str) -> None:
    """Calls unfinished in one chunk and resumed one or many chunks later."""
    from gotrace.parsers import strace as sp

    whole = parse(name)
    for size in (1, 3, 40, 97):
        frames = list(sp.parse_frames(DATA / name, chunk_lines=size))
        assert all(f.schema == whole.schema for f in frames), size
        chunked = pl.concat(frames)
        assert chunked.height == whole.height, size
        assert chunked.sort("line").equals(whole.sort("line")), size


def test_calls_still_unfinished_at_the_end_are_in_flight_whatever_the_chunks() -> None:
    from gotrace.parsers import strace as sp

    text = (
        "10 1700000000.000000 futex(0x1, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>\n"
        "11 1700000000.000100 read(3, <unfinished ...>\n"
        "12 1700000000.000200 epoll_pwait(4, <unfinished ...>\n"
        '11 1700000000.000300 <... read resumed>"ok", 2) = 2\n'
        "13 1700000000.000400 getpid() = 13\n"
        "\n"
        "12 1700000000.000500 <... epoll_pwait resumed>[], 128, 0, NULL, 0) = 0\n"
        "13 1700000000.000600 write(1, <unfinished ...>\n"
    )
    whole = parse_text(text)
    assert whole.select("pid", "syscall", "in_flight").rows() == [
        (10, "futex", True),
        (11, "read", False),
        (12, "epoll_pwait", False),
        (13, "getpid", False),
        (13, "write", True),
    ]
    for size in range(1, 9):
        cut = pl.concat(list(sp.parse_frames(io.StringIO(text), chunk_lines=size)))
        assert cut.sort("line").equals(whole), size


def test_go_mod_download_capture_parses_cleanly():
    df = parse("go_mod_download.strace")
    assert df.filter(pl.col("kind") == "parse_error").height == 0
    lines = raw_lines("go_mod_download.strace")
    n_res = sum("resumed>" in ln for ln in lines)
    assert df.height == len(lines) - n_res


def test_resumed_then_unfinished_again_means_the_process_died_in_the_call():
    # real: killed_outside_poll.strace, threads.strace ("<... read resumed> <unfinished ...>) = ?")
    df = parse("threads.strace")
    lines = raw_lines("threads.strace")
    died = [i + 1 for i, ln in enumerate(lines) if "resumed> <unfinished ...>) = ?" in ln]
    assert died
    rows = df.filter(pl.col("end_line").is_in(died))
    assert rows.height == len(died)
    assert rows["in_flight"].all()
    assert not rows["args"].str.contains("unfinished").any()
    assert df.filter(pl.col("kind") == "parse_error").height == 0


def test_blank_lines_make_no_event():
    df = parse_text("1 getpid() = 1\n\n   \n1 getpid() = 1\n")
    assert df["kind"].to_list() == ["syscall", "syscall"]
    assert df["line"].to_list() == [1, 4]
