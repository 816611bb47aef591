#!/usr/bin/env bash
# Interactive I/O through the real CLI, gateway, taskd and shims with real runc: exec (exit
# codes, stdin, stderr, user, directory, environment, several at once, refusals), run -i,
# run -it and exec -it driven in real terminals (tmux): typing, the first size and resizes,
# detach with ctrl-p ctrl-q and attach again; a slow reader bounds the shim's memory and
# stops the process instead; a taskd or gateway killed with -9 ends neither a stream nor its
# container.
#
# Usage: test/integration/test_streams.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
expect_exit "import the sh image" 0 b images import "$IMAGES/sh.tar" --name test/sh:v1
SH=test/sh:v1
B="$BUILD/berth --address $T/state/berth.sock"
TMUX_SOCK=berth-it-$$
tm() { tmux -L "$TMUX_SOCK" "$@"; }
# screen NAME: the visible text of tmux session NAME.
screen() { tm capture-pane -p -t "$1" 2>/dev/null; }
# wait_screen NAME TEXT [SECONDS]: until the session shows TEXT.
wait_screen() {
	local i
	for i in $(seq $((${3:-10} * 10))); do
		screen "$1" | grep -qF -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
trap 'tm kill-server 2>/dev/null; it_cleanup' EXIT

expect_exit "a container to exec into" 0 b run -d --name c1 "$SH" sleep 600

# --- exec -----------------------------------------------------------------------------------
expect_out "exec prints the command's output" "hello" b exec c1 echo hello
expect_exit "exec ends with the command's exit status" 7 b exec c1 sh -c 'exit 7'
b exec c1 sh -c 'echo out; echo err >&2' >"$T/out" 2>"$T/err"
check "exec keeps stdout and stderr apart" \
	test "$(cat "$T/out")/$(cat "$T/err")" = "out/err"
expect_out "exec -u -w -e: the user, the directory and the environment given" \
	"$(printf '1000:1001\n/tmp\nbar')" \
	b exec -u 1000:1001 -w /tmp -e FOO=bar c1 sh -c 'echo $(id -u):$(id -g); pwd; echo $FOO'
expect_out "exec without -e keeps the container's environment" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	b exec c1 sh -c 'echo $PATH'
expect_exit "exec of a command that does not exist: 127" 127 b exec c1 no-such-command
expect_contains "and says which" "$T/stderr" 'no-such-command'
expect_exit "exec of something that cannot be run: 126" 126 b exec c1 /etc
expect_exit "exec into a container that does not exist" 3 b exec nope true
expect_contains "names it" "$T/stderr" 'container "nope": not found'
expect_out "exec -i sends stdin, and its end" "piped" sh -c "echo piped | $B exec -i c1 cat"
expect_out "exec without -i gives the command no stdin" "" sh -c "echo piped | $B exec c1 cat"
head -c 20000000 /dev/urandom >"$T/big"
$B exec -i c1 cat <"$T/big" >"$T/big.back"
check "exec -i cat: 20 MB through and back, byte for byte" cmp "$T/big" "$T/big.back"
expect_exit "exec -d returns at once" 0 b exec -d c1 sh -c 'sleep 1; touch /tmp/detached'
sleep 2
expect_exit "and the command ran on" 0 b exec c1 test -f /tmp/detached

# several at once
pids=()
for i in 1 2 3 4 5; do
	$B exec c1 sh -c "sleep 0.5; echo run-$i; exit $((10 + i))" >"$T/par.$i" 2>&1 &
	pids+=($!)
done
ok=0
for i in 1 2 3 4 5; do
	wait "${pids[$((i - 1))]}"
	rc=$?
	[ $rc = $((10 + i)) ] && [ "$(cat "$T/par.$i")" = "run-$i" ] && ok=$((ok + 1))
done
check "five execs at once each end with their own status and output" test $ok = 5
b --format json events --since 0 --until 0s --filter topic=/tasks/exec-started >"$T/ev"
check "each started exec is a /tasks/exec-started event with its pid" \
	test "$(jq -s '[.[] | select(.payload.container_id == "c1" and .payload.pid > 0)] | length' "$T/ev")" -ge 5

expect_exit "pause c1" 0 b pause c1
expect_exit "exec into a paused container is refused" 5 b exec c1 true
expect_contains "saying why" "$T/stderr" "is paused; unpause it first"
expect_exit "unpause c1" 0 b unpause c1
expect_exit "a stopped container" 0 b run --name done1 "$SH" true
expect_exit "exec into a stopped container is refused" 5 b exec done1 true
expect_contains "saying why" "$T/stderr" "container done1 is not running"

# --- run -i -----------------------------------------------------------------------------------
count_before=$(b ps -a -q | wc -l)
expect_out "run -i: our stdin is the container's" "run-in" \
	sh -c "echo run-in | $B run -i --rm $SH cat"
expect_exit "run -i ends with the container's status" 3 \
	sh -c "echo 'exit 3' | $B run -i --rm $SH sh"
check "run -i --rm removed its containers" test "$(b ps -a -q | wc -l)" = "$count_before"

expect_exit "create -i" 0 b create -i --name si "$SH" sh
expect_out "start -a -i: our stdin reaches the created container" "from-start" \
	sh -c "echo 'echo from-start' | $B start -a -i si"
expect_exit "and its status is start's" 2 sh -c "echo 'exit 2' | $B start -a -i si"
expect_out "start -a -i again: the stopped container starts afresh" "again" \
	sh -c "echo 'echo again' | $B start -a -i si"

# --- terminals --------------------------------------------------------------------------------
tm new-session -d -x 120 -y 40 -s run "$B run -it --name tty1 $SH sh; echo EXIT=\$?; sleep 60"
if wait_screen run "/ #"; then
	it_ok "run -it shows the shell's prompt (nothing before the attach is lost)"
else
	it_not_ok "run -it shows the shell's prompt" "$(screen run)"
fi
tm send-keys -t run 'echo typed-$((6*7)); stty size' Enter
wait_screen run "typed-42"
check "typing reaches the shell and its output comes back" wait_screen run "typed-42" 2
check "the terminal has the size of ours from the start" wait_screen run "40 120" 2
tm resize-window -t run -x 90 -y 25 2>/dev/null
tm send-keys -t run 'stty size' Enter
check "a resize of our terminal reaches it" wait_screen run "25 90"
tm send-keys -t run 'sleep 0.3; echo still-$((1+1))' Enter
tm send-keys -t run C-p C-q
check "ctrl-p ctrl-q detaches: the CLI exits 0" wait_screen run "EXIT=0"
expect_out "and the container runs on" "running" \
	sh -c "$B ps --format json | jq -r '.[] | select(.id == \"tty1\") | .status'"
tm new-session -d -x 100 -y 30 -s att "$B attach tty1; echo EXIT=\$?; sleep 60"
sleep 1
tm send-keys -t att 'echo again-$((2*3)); exit 4' Enter
check "attach: typing reaches the same shell" wait_screen att "again-6"
check "attach ends with the container's exit status" wait_screen att "EXIT=4"
check "the terminal's output is in the log" sh -c "$B logs tty1 | grep -q typed-42"

expect_exit "a container for exec -it" 0 b run -d --name c2 "$SH" sleep 600
tm new-session -d -x 100 -y 30 -s ex "$B exec -it c2 sh; echo EXIT=\$?; sleep 60"
wait_screen ex "/ #"
tm send-keys -t ex 'tty; exit 5' Enter
check "exec -it: a terminal of its own" wait_screen ex "/dev/pts/"
check "exec -it ends with the shell's status" wait_screen ex "EXIT=5"

# --- back-pressure ------------------------------------------------------------------------------
shim_rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$T/state/taskd/bundles/default/$1/task/shim.pid")/status"; }
before=$(shim_rss_kb c1)
# The reader sleeps 4 s before reading 200 MB: the shim must hold back, not buffer.
$B exec c1 sh -c 'head -c 200000000 /dev/zero' | (sleep 4; wc -c >"$T/count") &
reader=$!
sleep 3
during=$(shim_rss_kb c1)
wait $reader
it_log "shim RSS: $before KiB before, $during KiB while its reader stalls"
check "a stalled reader does not grow the shim (under 4 MiB more)" \
	test $((during - before)) -lt 4096
check "and loses nothing once it reads" test "$(cat "$T/count")" = 200000000

# --- restarts ---------------------------------------------------------------------------------
$B exec c1 sh -c 'for i in 1 2 3 4 5 6; do echo $i; sleep 0.5; done; exit 9' >"$T/restart.out" &
execer=$!
sleep 1
daemon_kill9 taskd
daemon_kill9 gatewayd
sleep 0.5
daemon_start taskd
daemon_start gatewayd
wait $execer
rc=$?
check "an exec outlives kill -9 of taskd and the gateway: whole output" \
	test "$(tr '\n' ' ' <"$T/restart.out")" = "1 2 3 4 5 6 "
check "and its exit status" test $rc = 9
wait_healthy 20
expect_out "the container still runs" "ok" b exec c1 echo ok

expect_exit "remove the containers" 0 b rm -f c1 c2 tty1 done1 si
tm kill-server 2>/dev/null
it_summary
