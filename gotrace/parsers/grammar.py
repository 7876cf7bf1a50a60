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
#   "     0.000315 " -r, "15:56:01 (+     0.000329) " -t -r
#   "[  59] " -n, "[00007fe34819bad7] " -i
LEADER = (
    r"(?:\[pid +(?P<pid1>\d+)(?:<(?P<comm1>[^>]*)>)?\] |(?P<pid2>\d+)(?:<(?P<comm2>[^>]*)>)? +)?"
    r"(?:(?P<tod>\d\d:\d\d:\d\d(?:\.\d+)?) (?:\(\+ *(?P<rel2>\d+\.\d+)\) )?| *(?P<num>\d+\.\d+) +)?"
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

CALL_HEAD = r"(?P<name>[a-z_][a-z0-9_]*|\?\?\?)\("
# "<... read resumed>", and "<... read resumed> <unfinished ...>) = ?" when the process
# died while the call was still blocked.
RESUMED_HEAD = r"<\.\.\. (?P<name>[a-z_][a-z0-9_]*|\?\?\?) resumed>(?: <unfinished \.\.\.>)?"

# "--- SIGCHLD {si_signo=SIGCHLD, ...} ---", "--- stopped by SIGSTOP ---"
SIGNAL_BODY = r"--- (?:(?P<sig>SIG\w+|\d+) (?P<info>\{.*\}|\d+)?|stopped by (?P<stop>SIG\w+)) ?---$"
# "+++ exited with 0 +++", "+++ killed by SIGKILL (core dumped) +++",
# "+++ superseded by execve in pid 4242 +++"
EXIT_BODY = (
    r"\+\+\+ (?:exited with (?P<status>\d+)|killed by (?P<ksig>SIG\w+|\d+)(?P<core> \(core dumped\))?"
    r"|superseded by execve in pid (?P<former>\d+)) \+\+\+$"
)
# strace's own messages: "strace: Process 812 attached", "[ Process PID=812 runs in x32 mode. ]",
# " <pid changed to 812 ...>" (-ff after a threaded execve).
NOTICE_BODY = r"(?:strace: .*|\[ Process PID=\d+ runs in .* mode\. \]|<pid changed to \d+ \.\.\.>)$"
# -k stack frames follow their event: " > /usr/lib/x86_64-linux-gnu/libc.so.6(__read+0x12) [0x10e1d2]"
STACK_LINE = r"^ > (?P<frame>.*)$"

LEADER_RE = re.compile(LEADER)
RET_TAIL_RE = re.compile(RET_TAIL)
CALL_HEAD_RE = re.compile(CALL_HEAD)
RESUMED_HEAD_RE = re.compile(RESUMED_HEAD)
SIGNAL_RE = re.compile(SIGNAL_BODY)
EXIT_RE = re.compile(EXIT_BODY)
NOTICE_RE = re.compile(NOTICE_BODY)
STACK_RE = re.compile(STACK_LINE)
# stderr mode: strace's own message can cut a trace line:
#   "clone(child_stack=NULL, flags=...|SIGCHLDstrace: Process 4492 attached"
SPLIT_NOTICE_RE = re.compile(
    r"^(?P<head>.+?)(?P<notice>strace: Process \d+ (?:attached|detached))$"
)
# The -c/-C summary table: "% time     seconds  usecs/call ...", "------ ----", rows, "total".
SUMMARY_RE = re.compile(
    r"^(?:% time +seconds .*|[- ]+|\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+(?:\s+\d+)?\s+\S+)$"
)
