#!/usr/bin/env bash
# The front door under real unprivileged users and under abuse: roles per namespace (admin,
# user, read) from uid and gid rules, what each role may and may not do and what the refusal
# says, who sees which namespaces and events; the writes of the stores, which only root may
# make whatever the role; the cap on connections and on calls in progress
# per uid (RESOURCE_EXHAUSTED for the one at its cap, the others still served); a storm of
# clients hanging up before the handshake, during which every well-behaved call is answered
# within a second; deadlines no envelope can overflow; log lines no caller's string can forge.
#
# It creates the users berth-it-a and berth-it-b and the groups berth-it (their primary group,
# which the front door socket belongs to) and berth-it-g (a supplementary group that a gid
# rule names) unless they exist, and removes what it created.
#
# Usage: test/integration/test_frontdoor.sh [BUILD]   (as root)
BUILD=${1:-${BERTH_BUILD:-build}}
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root (users, setpriv)"
	echo "0 passed, 1 failed"
	exit 1
fi

MAX_CONNECTIONS=16
MAX_CALLS=4
CREATED_USERS=()
CREATED_GROUPS=()
BG_PIDS=()

it_cleanup_extra() {
	local p u g
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# userdel refuses a user that still runs something: whatever a failed check left behind.
	for u in "${CREATED_USERS[@]}"; do
		for p in $(ps -o pid= -u "$u" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		userdel "$u" 2>/dev/null
	done
	for g in "${CREATED_GROUPS[@]}"; do groupdel "$g" 2>/dev/null; done
}

ensure_group() {
	getent group "$1" >/dev/null && return 0
	groupadd --system "$1" && CREATED_GROUPS+=("$1")
}

ensure_user() {
	id -u "$1" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --no-user-group --gid berth-it \
		--shell /usr/sbin/nologin "$1" && CREATED_USERS+=("$1")
}

it_setup
ensure_group berth-it && ensure_group berth-it-g && ensure_user berth-it-a &&
	ensure_user berth-it-b || { it_not_ok "create the test users"; it_summary; exit 1; }
UA=$(id -u berth-it-a)
UB=$(id -u berth-it-b)
G_SOCK=$(getent group berth-it | cut -d: -f3)
G_RULE=$(getent group berth-it-g | cut -d: -f3)

# The binaries, where the test users can run them (the build tree may be closed to them).
install -m 0755 "$BUILD/berth" "$T/berth-cli"
install -m 0755 "$BUILD/test/helpers/front_door_abuse" "$T/front_door_abuse"
install -m 0755 "$BUILD/test/helpers/raw_call" "$T/raw_call"
SOCK=$T/state/berth.sock
ZERO_DIGEST=sha256:0000000000000000000000000000000000000000000000000000000000000000

# as USER [--groups G] CMD...: CMD as a test user whose only group is berth-it (the socket's),
# or berth-it and G. In a subshell (a background job) it execs, so that $! is the process
# to signal and a kill reaches CMD.
as() {
	local user=$1 uid groups=(--clear-groups)
	shift
	if [ "$1" = --groups ]; then
		groups=(--groups "$2")
		shift 2
	fi
	uid=$(id -u "$user" 2>/dev/null || echo "$user")
	if [ "$BASHPID" != "$$" ]; then
		exec timeout 60 setpriv --reuid="$uid" --regid="$G_SOCK" "${groups[@]}" "$@"
	fi
	timeout 60 setpriv --reuid="$uid" --regid="$G_SOCK" "${groups[@]}" "$@"
}
# A: admin in team-a, read in team-b. B: user in team-a; with group berth-it-g also user in
# team-b. nobody (65534): may reach the socket, has no rule.
ba() { as berth-it-a "$T/berth-cli" --address "$SOCK" "$@"; }
bb() { as berth-it-b "$T/berth-cli" --address "$SOCK" "$@"; }
bbg() { as berth-it-b --groups "$G_RULE" "$T/berth-cli" --address "$SOCK" "$@"; }
bn() { as 65534 "$T/berth-cli" --address "$SOCK" "$@"; }

write_config
jq --arg g berth-it --argjson a "$UA" --argjson b "$UB" --argjson rg "$G_RULE" \
	--argjson mc "$MAX_CONNECTIONS" --argjson mu "$MAX_CALLS" '.gatewayd += {
		group: $g, max_connections: $mc, max_calls_per_uid: $mu,
		access: [
			{uid: $a, namespaces: ["team-a"], role: "admin"},
			{uid: $a, namespaces: ["team-b"], role: "read"},
			{uid: $b, namespaces: ["team-a"], role: "user"},
			{gid: $rg, namespaces: ["team-b"], role: "user"}]}' \
	"$T/berth.json" >"$T/berth.json.new" && mv "$T/berth.json.new" "$T/berth.json"
for d in "${IT_DAEMONS[@]}"; do
	daemon_start "$d"
done
wait_healthy 20 || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "the daemons start with roles per namespace configured"
check "the front door belongs to the group of the test users" \
	test "$(stat -c '%a %G' "$SOCK")" = "660 berth-it"
expect_exit "root creates team-a" 0 b namespaces create team-a
expect_exit "root creates team-b" 0 b namespaces create team-b

# --- who is allowed at all, and who sees what -------------------------------------------------
expect_exit "a uid without any rule is refused" 8 bn namespaces ls
expect_contains "the refusal names its uid" "$T/stderr" "uid 65534 is not allowed to use berth"
expect_out "root sees every namespace" "$(printf 'default\nteam-a\nteam-b')" b namespaces ls -q
expect_out "A sees the two namespaces it has roles in" "$(printf 'team-a\nteam-b')" \
	ba namespaces ls -q
expect_out "B sees team-a only" "team-a" bb namespaces ls -q
expect_out "B with the rule's group sees team-b too" "$(printf 'team-a\nteam-b')" \
	bbg namespaces ls -q
expect_out "namespaces.get of a namespace B may see" "OK" \
	as berth-it-b "$T/raw_call" "$SOCK" namespaces.get "" 0 team-a
expect_out "namespaces.get of one it may not see: NOT_FOUND, as if it did not exist" \
	'NOT_FOUND: namespace "team-b": not found' \
	as berth-it-b "$T/raw_call" "$SOCK" namespaces.get "" 0 team-b
expect_exit "gateway.info answers any allowed caller" 0 bb info

# --- read ---------------------------------------------------------------------------------
expect_exit "read may list images" 0 ba -n team-b images ls
expect_exit "read may list containers" 0 ba -n team-b ps -a
expect_exit "read may not pull" 8 ba -n team-b images pull 127.0.0.1:1/x:y
expect_contains "the refusal names the namespace, the role and the role needed" "$T/stderr" \
	"uid $UA has role read in namespace team-b: images.pull needs role user"
expect_exit "read may not remove a container" 8 ba -n team-b rm c1
expect_contains "nor any other write of a user" "$T/stderr" "containers.delete needs role user"

# --- admin (before anything is written to team-a, so that it can be deleted) --------------
expect_exit "admin of team-a may list its snapshots" 0 ba -n team-a snapshots ls
expect_exit "admin of team-a may delete it" 0 ba namespaces rm team-a
expect_exit "and create it again" 0 ba namespaces create team-a
expect_exit "but not create another namespace" 8 ba namespaces create team-c
expect_contains "where it has no role" "$T/stderr" \
	"uid $UA has no role in namespace team-c: namespaces.create needs role admin"
expect_out "nor delete a lease in team-b, where it reads" \
	"PERMISSION_DENIED: uid $UA has role read in namespace team-b: content.leases.delete needs role admin" \
	as berth-it-a "$T/raw_call" "$SOCK" content.leases.delete team-b 0 l1

# --- the stores are root's, whatever the role ----------------------------------------------
# Blobs are stored once for every namespace, and a planted blob or snapshot could poison later
# pulls: the admin of team-a may neither delete, write nor collect them.
expect_exit "admin of team-a may not delete a blob" 8 ba -n team-a content rm "$ZERO_DIGEST"
expect_contains "the refusal names the method and says only root may write the stores" \
	"$T/stderr" "content.delete writes the stores, which only root may write, whatever the role (uid $UA)"
expect_exit "nor remove a snapshot" 8 ba -n team-a snapshots rm fd-snap
expect_contains "snapshots.remove is refused the same way" "$T/stderr" \
	"snapshots.remove writes the stores, which only root may write, whatever the role (uid $UA)"
expect_out "nor prepare one" \
	"PERMISSION_DENIED: snapshots.prepare writes the stores, which only root may write, whatever the role (uid $UA)" \
	as berth-it-a "$T/raw_call" "$SOCK" snapshots.prepare team-a 0 fd-snap
expect_exit "nor upload an archive to import" 8 \
	ba -n team-a images import "$IMAGES/sh.tar" --name fd/own:v1
expect_contains "content.write is refused the same way" "$T/stderr" \
	"content.write writes the stores, which only root may write, whatever the role (uid $UA)"
expect_exit "nor collect" 8 ba -n team-a system prune -f
expect_contains "content.gc is refused the same way" "$T/stderr" \
	"content.gc writes the stores, which only root may write, whatever the role (uid $UA)"
as berth-it-a "$T/raw_call" "$SOCK" content.leases.delete team-a 0 l1 >"$T/stdout"
if [ -s "$T/stdout" ] && ! grep -q PERMISSION_DENIED "$T/stdout"; then
	it_ok "its role still covers the leases of its namespace (contentd answers)"
else
	it_not_ok "its role still covers the leases of its namespace (contentd answers)" \
		"$(cat "$T/stdout")"
fi

# --- user ---------------------------------------------------------------------------------
expect_exit "no role in default: nothing there, not even a list" 8 bb images ls
expect_contains "the refusal says so" "$T/stderr" \
	"uid $UB has no role in namespace default: images.list needs role read"
bb -n team-a images pull 127.0.0.1:1/x:y >"$T/stdout" 2>"$T/stderr"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 8 ] && ! grep -q "needs role" "$T/stderr"; then
	it_ok "user may pull (the pull itself fails: nothing listens there)"
else
	it_not_ok "user may pull (the pull itself fails: nothing listens there)" "exit $rc" \
		"$(cat "$T/stderr")"
fi
expect_exit "user may list blobs" 0 bb -n team-a content ls
expect_exit "user may not delete a blob" 8 bb -n team-a content rm "$ZERO_DIGEST"
expect_contains "raw store writes are root's" "$T/stderr" \
	"content.delete writes the stores, which only root may write, whatever the role (uid $UB)"
expect_exit "user may not collect" 8 bb -n team-a system prune -f
expect_contains "collection is root's" "$T/stderr" "content.gc writes the stores"
expect_exit "user may not see every namespace's disk use" 8 bb -n team-a system df
expect_exit "user may not delete its namespace" 8 bb namespaces rm team-a
expect_contains "namespaces need admin" "$T/stderr" \
	"uid $UB has role user in namespace team-a: namespaces.delete needs role admin"
expect_exit "user through a group rule may not remove in team-b without the group" 8 \
	bb -n team-b rm c1
expect_contains "without the group, no role" "$T/stderr" "uid $UB has no role in namespace team-b"
bbg -n team-b rm c1 >"$T/stdout" 2>"$T/stderr"
rc=$?
if [ $rc -eq 3 ]; then
	it_ok "with the group it may (and learns that c1 does not exist)"
else
	it_not_ok "with the group it may (and learns that c1 does not exist)" "exit $rc" \
		"$(cat "$T/stderr")"
fi
expect_out "user may create a volume" v1 bb -n team-a volume create v1
expect_exit "user may remove it" 0 bb -n team-a volume rm v1
expect_exit "root imports an image into team-a" 0 \
	b -n team-a images import "$IMAGES/sh.tar" --name fd/sh:v1
archive=sha256:$(sha256sum "$IMAGES/sh.tar" | cut -d' ' -f1)
expect_exit "root may delete a blob (the archive: the image no longer needs it)" 0 \
	b -n team-a content rm "$archive"
check "and it is gone" bash -c "! '$BUILD/berth' --address '$SOCK' content ls -q | grep -qx '$archive'"
as berth-it-a "$T/raw_call" "$SOCK" snapshots.prepare team-a 0 fd-snap >"$T/stdout"
"$T/raw_call" "$SOCK" snapshots.prepare team-a 0 fd-snap >"$T/stdout.root"
if grep -q PERMISSION_DENIED "$T/stdout" && ! grep -q PERMISSION_DENIED "$T/stdout.root"; then
	it_ok "root's snapshots.prepare passes the front door (snapshotd judges its params)"
else
	it_not_ok "root's snapshots.prepare passes the front door (snapshotd judges its params)" \
		"admin: $(cat "$T/stdout")" "root: $(cat "$T/stdout.root")"
fi
expect_exit "root may collect" 0 b -n team-a system prune -f
expect_exit "user may not create a privileged container" 125 \
	bb -n team-a create --pull never --privileged fd/sh:v1
expect_contains "privileged needs admin" "$T/stderr" \
	"uid $UB has role user in namespace team-a: containers.create needs role admin"
expect_exit "user may not bind-mount a host path" 125 \
	bb -n team-a create --pull never -v /tmp:/host fd/sh:v1
expect_contains "a bind mount needs admin" "$T/stderr" "containers.create needs role admin"
expect_exit "user may not give a container a host device" 125 \
	bb -n team-a create --pull never --device /dev/null fd/sh:v1
expect_contains "a device needs admin" "$T/stderr" "containers.create needs role admin"
expect_out "user may create one with a volume, a tmpfs and limits" fd-c1 \
	bb -n team-a create --pull never --name fd-c1 -v v2:/v --mount type=tmpfs,target=/t \
	--memory 64m --cap-add NET_ADMIN fd/sh:v1
expect_exit "and remove it" 0 bb -n team-a rm fd-c1
bb -n team-a volume rm v2 >/dev/null

# --- events follow the same rule -------------------------------------------------------------
expect_exit "B reads the event log" 0 bb --format json events --since 0 --until 0s
if jq -e -s 'map(.namespace) | index("team-a") != null and index("team-b") == null' \
	"$T/stdout" >/dev/null; then
	it_ok "and sees the events of team-a, none of team-b"
else
	it_not_ok "and sees the events of team-a, none of team-b" "$(head -c 600 "$T/stdout")"
fi
expect_exit "asking for team-b's events is refused" 8 \
	bb events --since 0 --until 0s --filter namespace=team-b

# --- streams follow the same rule --------------------------------------------------------------
check "the stream socket has the front door's mode and group" \
	test "$(stat -c '%a %G' "$T/state/berth-stream.sock")" = "660 berth-it"
expect_exit "root imports an image into team-b" 0 \
	b -n team-b images import "$IMAGES/sh.tar" --name test/sh:v1
expect_exit "root runs a container in team-b" 0 \
	b -n team-b run -d --name s1 test/sh:v1 sleep 120
expect_exit "read may not exec" 8 ba -n team-b exec s1 true
expect_contains "the refusal names the method and the role" "$T/stderr" \
	"uid $UA has role read in namespace team-b: tasks.exec needs role user"
expect_exit "read may not attach" 8 ba -n team-b attach --no-stdin s1
expect_contains "attach needs user" "$T/stderr" "tasks.attach needs role user"
expect_exit "a uid without any rule may not exec" 8 bn -n team-b exec s1 true
expect_out "user (through its group) may exec" "exec-ok" \
	bbg -n team-b exec s1 echo exec-ok
expect_exit "root removes the container" 0 b -n team-b rm -f s1
expect_exit "read may export an image (a stream handed to imaged)" 0 \
	ba -n team-b images export test/sh:v1
check "the archive came through" bash -c "tar -tf '$T/stdout' | grep -qx index.json"
expect_exit "no role in the namespace: no export" 8 bb -n team-b images export test/sh:v1
expect_contains "the refusal names the stream's method" "$T/stderr" \
	"uid $UB has no role in namespace team-b: images.export needs role read"

# --- deadlines and log lines -----------------------------------------------------------------
expect_out "a deadline of 2^64-1 ms is served, not overflowed" "OK" \
	"$T/raw_call" "$SOCK" namespaces.list "" 18446744073709551615
expect_out "also when forwarded to a backend" "OK" \
	"$T/raw_call" "$SOCK" images.list team-a 9223372036854775807
forged=$'x\nberth-gatewayd[1]: notice GW-FORGED: all is well\e[2K\r'
as berth-it-a "$T/raw_call" "$SOCK" namespaces.list "$forged" 0 >"$T/stdout"
expect_contains "a namespace with a newline and an escape is refused" "$T/stdout" \
	"INVALID_ARGUMENT"
sleep 0.2
if [ "$(grep -c 'GW-FORGED' "$T/logs/gatewayd.log")" = 1 ] &&
	grep -F 'GW-FORGED' "$T/logs/gatewayd.log" | grep -q 'RPC-BAD-REQUEST' &&
	grep -qF 'invalid namespace "x\nberth-gatewayd[1]: notice GW-FORGED: all is well\x1b[2K\r"' \
		"$T/logs/gatewayd.log"; then
	it_ok "the gateway logs it escaped, on the one line of its own message"
else
	it_not_ok "the gateway logs it escaped, on the one line of its own message" \
		"$(grep -a -B1 -A1 GW-FORGED "$T/logs/gatewayd.log" | cat -A | head -c 600)"
fi
if ! grep -q -P '[\x00-\x08\x0b-\x1f\x7f]' "$T/logs"/*.log; then
	it_ok "no daemon log holds a control character"
else
	it_not_ok "no daemon log holds a control character" \
		"$(grep -l -P '[\x00-\x08\x0b-\x1f\x7f]' "$T/logs"/*.log)"
fi

# --- calls in progress per uid -----------------------------------------------------------------
# With imaged stopped, A's image listings wait at the gateway until their deadline: MAX_CALLS
# of them hold A's share.
kill -STOP "${IT_PIDS[imaged]}"
for _ in $(seq "$MAX_CALLS"); do
	ba -n team-a --timeout 20 images ls >/dev/null 2>&1 &
	BG_PIDS+=($!)
done
at_cap=0
for _ in $(seq 50); do
	ba -n team-a namespaces ls >"$T/stdout" 2>"$T/stderr"
	if [ $? -eq 10 ]; then
		at_cap=1
		break
	fi
	sleep 0.1
done
if [ $at_cap = 1 ]; then
	it_ok "past $MAX_CALLS calls in progress, A gets RESOURCE_EXHAUSTED"
else
	it_not_ok "past $MAX_CALLS calls in progress, A gets RESOURCE_EXHAUSTED" "$(cat "$T/stderr")"
fi
expect_contains "naming the limit" "$T/stderr" \
	"uid $UA already has $MAX_CALLS calls in progress at berth-gatewayd, the limit per uid"
start=$(date +%s%N)
expect_out "meanwhile B is answered" "team-a" bb namespaces ls -q
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$ms" -lt 1000 ]; then it_ok "within a second (${ms} ms)"; else it_not_ok "within a second (${ms} ms)"; fi
expect_exit "and root too" 0 b namespaces ls
kill -CONT "${IT_PIDS[imaged]}"
for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
BG_PIDS=()
expect_exit "once its calls are answered, A is served again" 0 ba -n team-a namespaces ls

# --- connections ---------------------------------------------------------------------------
as berth-it-a "$T/front_door_abuse" hold "$SOCK" "$MAX_CONNECTIONS" 60 >"$T/hold.out" 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 50); do
	grep -q ready "$T/hold.out" && break
	sleep 0.1
done
expect_exit "with $MAX_CONNECTIONS connections held open by A, B is refused" 10 \
	bb namespaces ls
expect_contains "RESOURCE_EXHAUSTED naming the limit" "$T/stderr" \
	"too many connections to berth-gatewayd (the limit is $MAX_CONNECTIONS)"
expect_exit "root (the daemons) still gets in" 0 b namespaces ls
kill "${BG_PIDS[@]}" 2>/dev/null
for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
BG_PIDS=()
served=0
for _ in $(seq 20); do
	bb namespaces ls >/dev/null 2>&1 && { served=1; break; }
	sleep 0.1
done
if [ $served = 1 ]; then
	it_ok "once they close, B is served again"
else
	it_not_ok "once they close, B is served again"
fi

# --- a storm of clients that hang up before the handshake -----------------------------------
# Against the default max_connections: under a storm nng reaps closed connections late, so
# the handful above would be reached by well-behaved callers coming and going.
kill -TERM "${IT_PIDS[gatewayd]}"
wait "${IT_PIDS[gatewayd]}" 2>/dev/null
unset "IT_PIDS[gatewayd]"
jq 'del(.gatewayd.max_connections)' "$T/berth.json" >"$T/berth.json.new" &&
	mv "$T/berth.json.new" "$T/berth.json"
daemon_start gatewayd
wait_healthy 20 || it_not_ok "the gateway starts again with the default limits"
relistens=$(grep -c RPC-RELISTEN "$T/logs/gatewayd.log")
# Storms of a thousand each (some 40 ms apiece), one after the other for about two seconds,
# from the unprivileged A; B and root call all along and for a while after.
STORMS=50
as berth-it-a bash -c "for i in \$(seq $STORMS); do '$T/front_door_abuse' storm '$SOCK' 1000; done" \
	>"$T/storm.out" 2>&1 &
storm=$!
BG_PIDS+=("$storm")
calls=0 during=0 slow=0 failed=0 worst=0
while kill -0 "$storm" 2>/dev/null || [ $calls -lt $((during + 20)) ]; do
	kill -0 "$storm" 2>/dev/null && during=$((during + 1))
	start=$(date +%s%N)
	if [ $((calls % 2)) = 0 ]; then
		bb --timeout 5 namespaces ls -q >/dev/null 2>"$T/stderr"
	else
		b --timeout 5 namespaces ls -q >/dev/null 2>"$T/stderr"
	fi
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	calls=$((calls + 1))
	[ $rc -ne 0 ] && failed=$((failed + 1)) && it_log "call $calls: exit $rc: $(cat "$T/stderr")"
	[ "$ms" -ge 1000 ] && slow=$((slow + 1))
	[ "$ms" -gt "$worst" ] && worst=$ms
done
wait "$storm"
BG_PIDS=()
it_log "$STORMS thousand hang-ups; $calls calls, $during of them during the storm; the slowest ${worst} ms"
if [ $failed = 0 ] && [ $slow = 0 ]; then
	it_ok "every call during the storm is answered within a second"
else
	it_not_ok "every call during the storm is answered within a second" \
		"$failed failed, $slow slower than 1 s (slowest ${worst} ms)"
fi
check "the listener never had to be replaced" \
	test "$(grep -c RPC-RELISTEN "$T/logs/gatewayd.log")" = "$relistens"
expect_exit "and the backends are still reachable through it" 0 bb -n team-a images ls

it_summary
