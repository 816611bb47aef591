#!/usr/bin/env bash
# libberth as a node agent uses it: `make install` into a private root puts the header, both
# libraries and berth.pc where pkg-config finds them; examples/agent.c compiles against that
# alone, once with the shared and once with the static library; both agents follow the
# /tasks/exit events of a real suite and print one line per container exit with its code,
# across a kill -9 and restart of the gateway (exits that happen while it is down included),
# without losing or repeating one; an agent started from a sequence number prints exactly
# what follows it; `make uninstall` removes what install put there.
#
# Usage: test/integration/test_agent.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

AGENT_PIDS=()
it_cleanup_extra() {
	local p
	for p in "${AGENT_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

it_setup
DEST=$T/dest
# make sees its targets by the names the build gave them: relative to the top. An absolute
# BUILD would make it build everything again under other names (and write dependency files
# that name those).
REL_BUILD=$(realpath --relative-to="$IT_TOP" "$BUILD")

# --- install, and build the example against the installed files only ----------------------
check "make install DESTDIR=... PREFIX=/usr" \
	make -s -C "$IT_TOP" BUILD="$REL_BUILD" DESTDIR="$DEST" PREFIX=/usr install
for f in usr/include/berth.h usr/lib/libberth.a usr/lib/libberth.so.0 usr/lib/libberth.so \
	usr/lib/pkgconfig/berth.pc; do
	check "install put $f" test -e "$DEST/$f"
done
check "libberth.so links to libberth.so.0" test "$(readlink "$DEST/usr/lib/libberth.so")" = libberth.so.0
check "only berth.h is installed as a header" \
	test "$(find "$DEST/usr/include" -type f | wc -l)" = 1
check "libberth.so.0 exports only berth_* functions" \
	test -z "$(nm -D --defined-only "$DEST/usr/lib/libberth.so.0" | awk '$2 == "T" && $3 !~ /^berth_/')"

# berth.pc as installed, with the private root as its prefix
pc() { PKG_CONFIG_PATH=$DEST/usr/lib/pkgconfig pkg-config --define-variable=prefix="$DEST/usr" "$@" berth; }
cflags=$(pc --cflags)
libs=$(pc --libs)
static_libs=$(pc --static --libs)
# A sanitizer build's library needs the sanitizer's runtime in the program that links it.
san=""
nm "$DEST/usr/lib/libberth.a" 2>/dev/null | grep -q __asan_init && san="-fsanitize=address,undefined"
check "pkg-config knows berth $(pc --modversion)" test "$(pc --modversion)" = 0.1.0
check "pkg-config names the installed include directory" test "${cflags% }" = "-I$DEST/usr/include"
# shellcheck disable=SC2086
check "the agent compiles against the shared library" \
	cc -Wall -Werror $san -o "$T/agent-shared" "$IT_TOP/examples/agent.c" $cflags $libs
# The same flags, with the archive in place of -lberth (the .so beside it would win).
# shellcheck disable=SC2086
check "the agent compiles against the static library" \
	cc -Wall -Werror $san -o "$T/agent-static" "$IT_TOP/examples/agent.c" $cflags \
	${static_libs/-lberth/$DEST/usr/lib/libberth.a}
# shellcheck disable=SC2086
check "the exec example compiles against the shared library" \
	cc -Wall -Werror $san -o "$T/exec-shared" "$IT_TOP/examples/exec.c" $cflags $libs
check "the shared agent needs libberth.so.0" \
	sh -c "readelf -d '$T/agent-shared' | grep -q 'NEEDED.*libberth.so.0'"
check "the static agent does not" \
	sh -c "! readelf -d '$T/agent-static' | grep -q libberth"

# --- a suite, an image, and the agents following it -----------------------------------------
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
expect_exit "pull the test image" 0 b images pull "$SH"

SOCK=$T/state/berth.sock
LD_LIBRARY_PATH=$DEST/usr/lib "$T/agent-shared" "$SOCK" >"$T/shared.out" 2>"$T/shared.err" &
AGENT_PIDS+=($!)
BERTH_SOCKET=$SOCK "$T/agent-static" >"$T/static.out" 2>"$T/static.err" &
AGENT_PIDS+=($!)

# expected: NAME CODE, in the order the containers exit
expected=()
expect_exit "run --rm e3 exits 3" 3 b run --rm --name e3 "$SH" sh -c 'exit 3'
expected+=("e3 3")
expect_exit "run --rm e0 exits 0" 0 b run --rm --name e0 "$SH" true
expected+=("e0 0")

# Two containers that exit while the gateway is down: their exits wait in taskd's outbox.
expect_exit "run -d d5 (exits 5 in 2s)" 0 b run -d --name d5 "$SH" sh -c 'sleep 2; exit 5'
expect_exit "run -d d6 (exits 6 in 3s)" 0 b run -d --name d6 "$SH" sh -c 'sleep 3; exit 6'
daemon_kill9 gatewayd
sleep 4
daemon_start gatewayd
wait_healthy 20 || it_not_ok "the suite is healthy again after the gateway's restart"
expected+=("d5 5" "d6 6")

expect_exit "run --rm e7 exits 7 after the restart" 7 b run --rm --name e7 "$SH" sh -c 'exit 7'
expected+=("e7 7")
expect_exit "run --rm e9 exits 9" 9 b run --rm --name e9 "$SH" sh -c 'exit 9'
expected+=("e9 9")

# Each agent has printed one line per exit by now, or soon.
want=${#expected[@]}
for _ in $(seq 100); do
	[ "$(wc -l <"$T/shared.out")" -ge "$want" ] && [ "$(wc -l <"$T/static.out")" -ge "$want" ] && break
	sleep 0.1
done
sleep 0.5 # a repeated line would come now

# agent_ok FILE: one "SEQ default NAME exit CODE at TIME" line per expected exit, in order,
# with increasing sequence numbers.
agent_ok() {
	local file=$1 i=0 prev=0 seq ns id word code at time
	[ "$(wc -l <"$file")" -eq "$want" ] || return 1
	while read -r seq ns id word code at time; do
		[ "$ns $id $word $code $at" = "default ${expected[$i]% *} exit ${expected[$i]#* } at" ] || return 1
		[[ $time =~ ^20[0-9-]+T[0-9:]+\.[0-9]{9}Z$ ]] || return 1
		[ "$seq" -gt "$prev" ] || return 1
		prev=$seq
		i=$((i + 1))
	done <"$file"
}
for a in shared static; do
	if agent_ok "$T/$a.out"; then
		it_ok "the $a agent printed each exit once, in order, across the gateway's restart"
	else
		it_not_ok "the $a agent printed each exit once, in order, across the gateway's restart" \
			"expected: ${expected[*]}" "got: $(cat "$T/$a.out")" "stderr: $(tail -n 3 "$T/$a.err")"
	fi
done
check "both agents still follow" kill -0 "${AGENT_PIDS[0]}" "${AGENT_PIDS[1]}"
check "both agents printed the same sequence numbers" cmp -s "$T/shared.out" "$T/static.out"

# --- resuming from a sequence number -----------------------------------------------------
second=$(sed -n 2p "$T/static.out" | cut -d' ' -f1)
"$T/agent-static" "$SOCK" "$second" >"$T/resume.out" 2>"$T/resume.err" &
AGENT_PIDS+=($!)
for _ in $(seq 50); do
	[ "$(wc -l <"$T/resume.out")" -ge $((want - 2)) ] && break
	sleep 0.1
done
sleep 0.3
check "an agent started after sequence number $second prints exactly what follows it" \
	cmp -s "$T/resume.out" <(tail -n +3 "$T/static.out")

b rm -f d5 d6 >/dev/null 2>&1

# --- exec through libberth ---------------------------------------------------------------
expect_exit "a container to exec into" 0 b run -d --name x1 "$SH" sleep 300
seq 1 20000 >"$T/in"
LD_LIBRARY_PATH=$DEST/usr/lib "$T/exec-shared" "$SOCK" x1 sh -c 'cat; echo to-err >&2; exit 6' \
	<"$T/in" >"$T/exec.out" 2>"$T/exec.err"
rc=$?
check "the exec example's command got our stdin and gave it back" cmp -s "$T/in" "$T/exec.out"
check "its stderr came apart" test "$(cat "$T/exec.err")" = "to-err"
check "and its status is the example's" test $rc = 6
LD_LIBRARY_PATH=$DEST/usr/lib "$T/exec-shared" "$SOCK" nope true </dev/null 2>"$T/exec.err"
expect_contains "an exec into a missing container names the code" "$T/exec.err" "NOT_FOUND"
b rm -f x1 >/dev/null 2>&1

# --- uninstall ---------------------------------------------------------------------------
check "make uninstall DESTDIR=... PREFIX=/usr" \
	make -s -C "$IT_TOP" BUILD="$REL_BUILD" DESTDIR="$DEST" PREFIX=/usr uninstall
check "uninstall removed the library, its header and berth.pc" \
	test -z "$(find "$DEST/usr/include" "$DEST/usr/lib" -name 'berth.h' -o -name 'libberth*' \
		-o -name berth.pc)"

it_summary
