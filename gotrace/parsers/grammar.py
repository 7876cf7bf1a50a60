"""The grammar of one strace output line, written once as regular expressions.

Both the columnar parser (polars, whole columns at a time) and the per-line
reader use these patterns, so the two can never disagree about a form. The
examples in the comments are real strace 6.1 output.
"""

from __future__ import annotations

import re

# The leader, in strace's printleader() order: pid, timestamp, -n number, -i pointer.
#   "2259  "              -f -o               "[pid  2269] "  stderr, several processes
#   "4496<sh> "           -Y                  "[pid  4492<sh>] "
#   "15:56:01 " -t, "15:56:01.126849 " -tt, "1795967761.132336 " -ttt,
#   "     0.000315 " -r, "15:56:01 (+     0.000329) " -t -r,
#   "1796229384.441367 (+     0.000000) " -ttt -r (the absolute stamp is kept, the relative one dropped)
#   "[  59] " -n, "[00007fe34819bad7] " -i
LEADER = (
    r"(?:\[pid +(?P<pid1>\d+)(?:<(?P<comm1>[^>]*)>)?\] |(?P<pid2>\d+)(?:<(?P<comm2>[^>]*)>)? +)?"
    r"(?:(?P<tod>\d\d:\d\d:\d\d(?:\.\d+)?) (?:\(\+ *(?P<rel2>\d+\.\d+)\) )?"
    r"| *(?P<num>\d+\.\d+) +(?:\(\+ *\d+\.\d+\) )?)?"
    r"(?:\[ *(?P<nr>\d+)\] )?"
    r"(?:\[(?P<ip>[0-9a-f?]{8,16})\] )?"
)
# The same without named groups, as a prefix for patterns that only want the body.
LEADER_NC = re.sub(r"\(\?P<\w+>", "(?:", LEADER)

# What -y/-yy print between "<" and ">": a path or socket, once nested ("/dev/null<char 1:3>");
# "->" inside socket endpoints is not a closing bracket.
ANNOTATION = r"(?:->|[^<>]|<(?:->|[^<>])*>)*"

# The end of a line that returned:  ") = -1 ENOENT (No such file or directory) <0.000008>".
# Anchored at the end so that a ") = " inside a string argument is never taken for it;
# strace pads with spaces before "=" to column 40.
#   ret      "?", "-1", "3", "0x55a6e2df6000"
#   target   "</etc/passwd>", "<TCP:[127.0.0.1:1->127.0.0.1:2]>", "</dev/null<char 1:3>>", "<sh>"
#   errno    "ENOENT (No such file or directory)", "ERESTARTSYS (To be restarted ...)"
#   extra    "(Timeout)", "(INJECTED)", "(in [3])", "(flags O_RDWR)"
#   dur      "<0.000012>", "<0.000213759>", "<0>"; or "<unavailable>" / "<detached ...>"
RET_TAIL = (
    r"\) +=(?: (?P<ret>\?|-?\d+|0x[0-9a-fA-F]+)(?:<(?P<target>" + ANNOTATION + r")>)?"
    r"(?: (?P<errno>E[A-Z0-9_]+|ERESTART\w+) \((?P<errmsg>[^()]*)\))?"
    r"(?: \((?P<extra>.*)\))?)?"
    r"(?: <(?P<dur>\d+(?:\.\d+)?|unavailable|detached \.\.\.)>)?$"
)

UNFINISHED_SUFFIX = " <unfinished ...>"
DETACHED_SUFFIX = " <detached ...>"
# A call that never returned, printed on one line when its process died: "nanosleep({...} <unfinished ...>) = ?"
UNFINISHED_NEVER = " <unfinished ...>) = ?"

CALL_HEAD = r"(?P<name>[a-z_][a-z0-9_]*|\?\?\?\??)\("
# "<... read resumed>", and "<... read resumed> <unfinished ...>) = ?" when the process
# died while the call was still blocked.
RESUMED_HEAD = r"<\.\.\. (?P<name>[a-z_][a-z0-9_]*|\?\?\?\??) resumed>(?: <unfinished \.\.\.>)?"
# The resumed half with no "<... name resumed>": strace 5.x with -z (--successful-only) printed
# "futex(0x5582, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>" and then, for the same pid,
# a bare ")   = 0". Without -o it is also how a call cut by the program's own output goes on:
# 'write(1, "c\n", 2c' (the program's "c\n" spliced in), then ")                 = 2".
BARE_TAIL = r" *(?=\) +=)"
# ... and the other ways such a cut line goes on: " <unfinished ...>", " <detached ...>".
CONTINUATION = r"^(?: <unfinished \.\.\.>(?:\) = \?)?| <detached \.\.\.>| *\) +=.*)$"

# "--- SIGCHLD {si_signo=SIGCHLD, ...} ---", "--- stopped by SIGSTOP ---"; strace 4.x:
# "--- SIGCHLD (Child exited) @ 0 (0) ---" and
# "--- {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1115, ...} (Child exited) ---"
SIGNAL_BODY = (
    r"--- (?:(?P<sig>SIG\w+|\d+) (?P<info>\{.*\}|\d+)?|stopped by (?P<stop>SIG\w+)"
    r"|(?P<sig4>SIG\w+) \(.*\) @ \S+ \(\S+\)"
    r"|(?P<info4>\{si_signo=(?P<sig5>SIG\w+)\b.*\}) \(.*\)) ?---$"
)
# "+++ exited with 0 +++", "+++ killed by SIGKILL (core dumped) +++",
# "+++ superseded by execve in pid 4242 +++"
EXIT_BODY = (
    r"\+\+\+ (?:exited with (?P<status>\d+)|killed by (?P<ksig>SIG\w+|\d+)(?P<core> \(core dumped\))?"
    r"|superseded by execve in pid (?P<former>\d+)) \+\+\+$"
)
# strace's own messages: "strace: Process 812 attached", "[ Process PID=812 runs in x32 mode. ]",
# " <pid changed to 812 ...>" (-ff after a threaded execve); strace 4.x wrote them without
# "strace: ": "Process 29579 attached - interrupt to quit", "Process 7 attached with 3 threads
# - interrupt to quit", "Process 4135 detached", "Process 10629 suspended".
OLD_PROCESS_NOTICE = r"Process \d+ (?:attached(?: with \d+ threads)?(?: - interrupt to quit)?|detached|suspended|resumed)"
NOTICE_BODY = (
    r"(?:strace: .*|\[ Process PID=\d+ runs in .* mode\. \]|<pid changed to \d+ \.\.\.>|"
    + OLD_PROCESS_NOTICE
    + r")$"
)
# -k stack frames follow their event: " > /usr/lib/x86_64-linux-gnu/libc.so.6(__read+0x12) [0x10e1d2]"
STACK_LINE = r"^ > (?P<frame>.*)$"
# -e read=SET / -e write=SET dump the whole buffer after the call, 16 bytes a line, as
# " | %05x  %-49s  %-16s |" (offset, hex bytes with an extra space after the 8th, ASCII);
# vectored calls (writev, sendmsg, ...) announce each buffer: " * 5 bytes in buffer 0".
DUMP_LINE = (
    r"^ \| (?P<off>[0-9a-f]{5,}) (?P<hex>(?: [0-9a-f]{2}){1,8}(?: (?: [0-9a-f]{2}){1,8})?) .*\|$"
)
DUMP_HEADER = r"^ \* \d+ bytes in buffer \d+$"

LEADER_RE = re.compile(LEADER)
RET_TAIL_RE = re.compile(RET_TAIL)
CALL_HEAD_RE = re.compile(CALL_HEAD)
RESUMED_HEAD_RE = re.compile(RESUMED_HEAD)
SIGNAL_RE = re.compile(SIGNAL_BODY)
EXIT_RE = re.compile(EXIT_BODY)
NOTICE_RE = re.compile(NOTICE_BODY)
STACK_RE = re.compile(STACK_LINE)
DUMP_RE = re.compile(DUMP_LINE)
DUMP_HEADER_RE = re.compile(DUMP_HEADER)
CONTINUATION_RE = re.compile(CONTINUATION)
BARE_TAIL_RE = re.compile(BARE_TAIL)
# stderr mode: strace's own message can cut a trace line:
#   "clone(child_stack=NULL, flags=...|SIGCHLDstrace: Process 4492 attached"
SPLIT_NOTICE_RE = re.compile(
    r"^(?P<head>.+?)(?P<notice>strace: Process \d+ (?:attached|detached)|"
    + OLD_PROCESS_NOTICE
    + ")$"
)
# The -c/-C summary table: "% time     seconds  usecs/call ...", "------ ----", rows, "total".
SUMMARY_RE = re.compile(
    r"^(?:% time +seconds .*|[- ]+|\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+(?:\s+\d+)?\s+\S+)$"
)
