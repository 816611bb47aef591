#!/usr/bin/env bash
# The options of `berth run`, each end to end through the real CLI, daemons and runc: bind
# mounts (-v and --mount; a host file is visible, :ro is enforced, a missing source or a
# relative target is refused naming it), tmpfs mounts (--mount, --tmpfs) with a size, named volumes (made by
# `run -v`, filled from the image on first use, surviving their container, refused removal
# while a container uses them, their events, taskd's start-up repair, `volume
# create|ls|inspect|rm|prune`), -u/-w as `id` and `pwd` see them (names looked up in the
# image), --read-only, --cap-add/--cap-drop/--privileged in /proc/self/status, --device and its
# cgroup rule, --memory (a hog is OOM-killed; inspect and /tasks/oom report it) and
# --memory-swap, --cpus, --pids-limit (a fork loop fails), --ulimit, --env-file,
# --entrypoint "", --init (PID 1, reaping, exit status, signals) and --pull
# never|missing|always against a real registry.
#
# Usage: test/integration/test_run_opts.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh opts/sh:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "all six daemons start and report healthy"

expect_exit "import the busybox image" 0 b images import "$IMAGES/sh.tar" --name opts/sh:v1
expect_exit "import the layered image" 0 b images import "$IMAGES/layers.tar" \
	--name opts/layers:v1
SH=opts/sh:v1

# bq JQ ARGS...: the CLI's JSON output through jq -r JQ.
bq() {
	local q=$1
	shift
	b "$@" | jq -r "$q"
}

# --- bind mounts ---------------------------------------------------------------------------
mkdir -p "$T/host"
echo hello >"$T/host/file"
expect_out "-v HOST:CTR shows the host's file" hello b run --rm -v "$T/host:/mnt" $SH cat /mnt/file
b run --rm -v "$T/host:/mnt" $SH sh -c 'echo written >/mnt/new' >/dev/null 2>&1
expect_out "a write through a rw bind mount reaches the host" written cat "$T/host/new"
expect_exit "-v HOST:CTR:ro refuses writes" 1 b run --rm -v "$T/host:/mnt:ro" $SH \
	sh -c 'echo x >/mnt/refused'
check "nothing was written through the read-only mount" test ! -e "$T/host/refused"
expect_out "--mount type=bind,readonly shows the file" hello \
	b run --rm --mount "type=bind,source=$T/host,target=/m,readonly" $SH cat /m/file
expect_exit "--mount type=bind,readonly refuses writes" 1 \
	b run --rm --mount "type=bind,source=$T/host,target=/m,readonly" $SH touch /m/x
expect_exit "a missing bind source is refused" 125 b run --rm -v "$T/absent:/mnt" $SH true
expect_contains "the error names the missing path" "$T/stderr" "$T/absent"
expect_exit "a relative target is refused" 125 b run --rm -v "$T/host:mnt" $SH true
expect_contains "the error says the target must be absolute" "$T/stderr" "must be absolute"
expect_exit "a target with .. is refused" 125 b run --rm --mount "type=bind,src=$T/host,dst=/a/../b" $SH true
expect_exit "an unknown --mount key is refused" 125 b run --rm --mount "type=bind,src=$T/host,dst=/a,bogus=1" $SH true
expect_contains "the error names the key" "$T/stderr" '"bogus"'

# --- tmpfs ---------------------------------------------------------------------------------
out=$(b run --rm --mount type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1770 $SH \
	sh -c 'echo t >/scratch/f && cat /scratch/f && grep " /scratch " /proc/mounts && stat -c %a /scratch')
check "--mount type=tmpfs is a writable tmpfs ($out)" grep -q '^tmpfs /scratch tmpfs' <<<"$out"
check "its size is tmpfs-size" grep -q 'size=1024k' <<<"$out"
check "its mode is tmpfs-mode" test "$(tail -n 1 <<<"$out")" = 1770
expect_out "--tmpfs PATH:size=,mode= is a tmpfs too" "1m 700" \
	b run --rm --tmpfs /run/x:size=1m,mode=700 $SH \
	sh -c 'grep -q "^tmpfs /run/x tmpfs .*size=1024k" /proc/mounts && echo "1m $(stat -c %a /run/x)"'
expect_exit "--tmpfs PATH:ro is read-only" 1 b run --rm --tmpfs /scratch:ro $SH touch /scratch/f

# --- named volumes -------------------------------------------------------------------------
expect_exit "run -v NAME:/data makes the volume" 0 b run --name vuser -v data:/data $SH \
	sh -c 'echo persisted >/data/f'
expect_out "volume ls shows it" data b volume ls -q
expect_out "volume inspect names the container that uses it" vuser \
	bq '.[0].containers[0]' volume inspect data
expect_exit "volume rm refuses a volume a stopped container uses" 5 b volume rm data
expect_contains "the refusal names the container" "$T/stderr" '"vuser"'
expect_exit "volume prune keeps a volume in use" 0 b volume prune
expect_out "the volume is still there" data b volume ls -q
expect_exit "remove the container" 0 b rm vuser
expect_out "the volume outlives its container" persisted b run --rm -v data:/data $SH cat /data/f
check "its files are under taskd's data root" \
	test -f "$T/root/taskd/volumes/default/data/_data/f"
expect_out "volume rm removes an unused volume" data b volume rm data
check "its directory is gone" test ! -e "$T/root/taskd/volumes/default/data"
expect_exit "volume rm of a missing volume is NOT_FOUND" 3 b volume rm data
expect_exit "volume rm -f of a missing volume succeeds" 0 b volume rm -f data
expect_out "volume create --label NAME" named b volume create --label team=a named
expect_out "volume inspect shows its labels" a \
	bq '.[0].labels.team' volume inspect named
expect_out "volume create of an existing name answers it" named b volume create named
expect_out "volume ls --format json" '["named"]' \
	bq '[.[].name] | tostring' volume ls --format json
expect_exit "an invalid volume name is refused" 2 b volume create 'bad/name'
expect_out "volume prune removes unused volumes" named b volume prune
events=$(b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	--filter topic=/volumes/ | jq -r '"\(.topic) \(.payload.name)"' | tr '\n' ',')
check "volumes emit /volumes/create and /volumes/delete ($events)" test "$events" = \
	"/volumes/create data,/volumes/delete data,/volumes/create named,/volumes/delete named,"
expect_out "a new volume is filled from the image (copy-up)" keep \
	b run --rm -v fresh:/data opts/layers:v1 ls /data
b run --rm -v fresh:/data opts/layers:v1 sh -c 'touch /data/mine; rm /data/keep' >/dev/null
expect_out "a volume is filled only when new" mine b run --rm -v fresh:/data opts/layers:v1 ls /data

# taskd restarts: volumes stay; what an interrupted create or delete left is removed
vols=$T/root/taskd/volumes/default
mkdir -p "$vols/.deleting-0123/_data" "$vols/stray/_data"
daemon_kill9 taskd
daemon_start taskd
wait_healthy 20 || it_log "taskd did not come back"
expect_out "a volume survives a restart of taskd" mine \
	b run --rm -v fresh:/data opts/layers:v1 ls /data
check "a directory a delete renamed aside is removed at start" test ! -e "$vols/.deleting-0123"
check "a volume directory without a record is removed at start" test ! -e "$vols/stray"
b volume rm fresh >/dev/null

expect_exit "create a namespace" 0 b namespaces create vt
expect_exit "a volume in that namespace" 0 b -n vt volume create kept
expect_exit "a namespace that holds a volume cannot be removed" 5 b namespaces rm vt
expect_contains "the refusal counts the volume" "$T/stderr" "1 volume"
b -n vt volume rm kept >/dev/null
expect_exit "once empty it can" 0 b namespaces rm vt

# --- user, working directory, root file system ---------------------------------------------
expect_out "-u UID:GID and -w DIR reach id and pwd" "1000
1001
/tmp" b run --rm -u 1000:1001 -w /tmp $SH sh -c 'id -u; id -g; pwd'
expect_out "-u NAME:GROUP is looked up in the image" "65534 65534" \
	b run --rm -u nobody:nogroup $SH sh -c 'echo $(id -u) $(id -g)'
expect_exit "an unknown user is refused" 125 b run --rm -u nosuchuser $SH true
expect_contains "the error names the user" "$T/stderr" '"nosuchuser"'
expect_out "--workdir is made when missing, as docker does" /new/dir \
	b run --rm --workdir /new/dir $SH sh -c pwd
expect_exit "--read-only makes writes to the root fail" 1 b run --rm --read-only $SH touch /x
expect_exit "--read-only keeps /tmp read-only too" 1 b run --rm --read-only $SH touch /tmp/x
expect_out "--read-only with a tmpfs leaves that writable" ok \
	b run --rm --read-only --mount type=tmpfs,target=/tmp $SH sh -c 'touch /tmp/x && echo ok'

# --- capabilities --------------------------------------------------------------------------
capeff() { b run --rm "$@" $SH sh -c 'grep CapEff /proc/self/status' | awk '{print $2}'; }
expect_out "the default capability set" 00000000a80425fb capeff
expect_out "--cap-drop ALL leaves none" 0000000000000000 capeff --cap-drop ALL
expect_out "--cap-add NET_ADMIN adds bit 12" 00000000a80435fb capeff --cap-add NET_ADMIN
expect_out "--cap-drop ALL --cap-add cap_sys_admin (any case, CAP_ prefix)" 0000000000200000 \
	capeff --cap-drop ALL --cap-add cap_sys_admin
expect_out "--cap-drop CHOWN removes bit 0" 00000000a80425fa capeff --cap-drop CHOWN
expect_exit "an unknown capability is refused" 125 b run --rm --cap-add NOPE $SH true
expect_contains "the error names it" "$T/stderr" '"NOPE"'
# Every capability taskd may pass on: its bounding set (this machine's lacks CAP_SYS_RESOURCE).
want=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
expect_out "--privileged has every capability of the host's bounding set" "$want" \
	capeff --privileged
expect_out "--privileged runs without seccomp" "Seccomp:	0" \
	b run --rm --privileged $SH grep '^Seccomp:' /proc/self/status
expect_out "--privileged sees the host's devices" yes \
	b run --rm --privileged $SH sh -c "test -e /dev/$(basename "$(ls /dev/loop-control /dev/fuse 2>/dev/null | head -n 1)") && echo yes"

# --- devices -------------------------------------------------------------------------------
expect_out "--device HOST:CTR makes a usable node" "c yes" \
	b run --rm --device /dev/null:/dev/mynull $SH \
	sh -c 'test -c /dev/mynull && printf c; echo x >/dev/mynull && echo " yes"'
# /dev/null is allowed to every container; /dev/loop-control only by its own cgroup rule.
if [ -c /dev/loop-control ]; then
	expect_out "--device HOST:CTR:rw allows opening for writing" ok \
		b run --rm --device /dev/loop-control:/dev/lc:rw $SH sh -c ': >/dev/lc && echo ok'
	expect_exit "--device HOST:CTR:r refuses it (the cgroup rule)" 1 \
		b run --rm --device /dev/loop-control:/dev/lc:r $SH sh -c ': >/dev/lc'
	expect_exit "a device not given is refused even with mknod" 1 \
		b run --rm $SH sh -c 'mknod /dev/lc c 10 237 && : >/dev/lc'
fi
expect_exit "--device of a non-device is refused" 125 b run --rm --device "$T/host/file" $SH true
expect_contains "the error says why" "$T/stderr" "not a device node"

# --- resources -----------------------------------------------------------------------------
if [ -d /sys/fs/cgroup/memory ]; then
	mem_file=/sys/fs/cgroup/memory/memory.limit_in_bytes
	cpu_file=/sys/fs/cgroup/cpu/cpu.cfs_quota_us
else
	mem_file=/sys/fs/cgroup/memory.max
	cpu_file=/sys/fs/cgroup/cpu.max
fi
expect_out "--memory 32m is the cgroup's limit" 33554432 b run --rm --memory 32m $SH cat $mem_file
if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
	expect_out "memory+swap is twice --memory by default" 67108864 \
		b run --rm --memory 32m $SH cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes
	expect_out "--memory-swap sets it" 50331648 b run --rm --memory 32m --memory-swap 48m $SH \
		cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes
fi
out=$(b run --rm --cpus 0.5 $SH cat $cpu_file)
check "--cpus 0.5 is a quota of half the period ($out)" grep -Eq '^50000( 100000)?$' <<<"$out"
expect_exit "--memory below 6m is refused" 125 b run --rm --memory 1m $SH true
expect_exit "a memory hog under --memory 32m is killed" 137 b run --name hog --memory 32m $SH \
	sh -c 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'
expect_out "inspect reports it OOM-killed" true \
	bq '.[0].state.oom_killed' inspect hog
events=$(b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	--filter topic=/tasks/ | jq -r 'select(.payload.container_id == "hog") | .topic' | tr '\n' ' ')
check "/tasks/oom comes before /tasks/exit ($events)" \
	test "$events" = "/tasks/create /tasks/start /tasks/oom /tasks/exit "
b run --name calm --memory 32m $SH true
expect_out "a container that was not OOM-killed says so" false bq '.[0].state.oom_killed' inspect calm
b rm hog calm >/dev/null
out=$(b run --rm --pids-limit 10 $SH sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done; wait' 2>&1)
check "--pids-limit 10 stops a fork loop ($out)" grep -q "can't fork" <<<"$out"
expect_out "without it the same loop runs" "" \
	b run --rm $SH sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 0.1 & done; wait'

# --- rlimits -------------------------------------------------------------------------------
expect_out "--ulimit nofile=512:1024 (soft and hard)" "512
1024" b run --rm --ulimit nofile=512:1024 $SH sh -c 'ulimit -n; ulimit -Hn'
expect_out "--ulimit nofile=256 sets both" "256
256" b run --rm --ulimit nofile=256 $SH sh -c 'ulimit -n; ulimit -Hn'
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then
	expect_exit "--ulimit above the host's hard limit is refused" 125 \
		b run --rm --ulimit nofile=$((hard + 1)) $SH true
	expect_contains "the error says the host's limit" "$T/stderr" "host's ($hard)"
fi
expect_exit "an unknown --ulimit is refused" 125 b run --rm --ulimit nope=1 $SH true
expect_exit "--ulimit with soft above hard is refused" 125 b run --rm --ulimit nofile=20:10 $SH true

# --- env-file, entrypoint ------------------------------------------------------------------
printf 'A=1\n# a comment\n\n  B=two words\nFROM_CALLER\nUNSET_ONE\n' >"$T/env"
out=$(FROM_CALLER=here b run --rm --env-file "$T/env" $SH env | sort)
check "--env-file sets K=V lines ($out)" grep -qx 'A=1' <<<"$out"
check "values keep their spaces" grep -qx 'B=two words' <<<"$out"
check "a bare name takes the caller's value" grep -qx 'FROM_CALLER=here' <<<"$out"
check "an unset bare name is left out" test "$(grep -c UNSET_ONE <<<"$out")" = 0
expect_out "-e after --env-file wins" "A=3" b run --rm --env-file "$T/env" -e A=3 $SH sh -c 'env | grep ^A='
expect_exit "a missing --env-file is refused" 125 b run --rm --env-file "$T/nope" $SH true
expect_contains "the error names the file" "$T/stderr" "$T/nope"
expect_out '--entrypoint "" clears the entrypoint' hi b run --rm --entrypoint "" $SH echo hi
expect_out '--entrypoint replaces it' "x" b run --rm --entrypoint /bin/echo $SH x

# --- init ----------------------------------------------------------------------------------
pid1() { b run --rm --init $SH sh -c 'cat /proc/1/cmdline' | tr '\0' ' ' | sed 's/ $//'; }
expect_out "--init runs berth-init as PID 1" "/sbin/berth-init -- sh -c cat /proc/1/cmdline" pid1
expect_exit "--init passes the exit status on" 7 b run --rm --init $SH sh -c 'exit 7'
out=$(b run --rm --init $SH sh -c 'sh -c "sleep 0.3 &"; sleep 1.5; ps -o stat,comm | grep -c "^Z" || true')
check "--init reaps orphaned zombies ($out)" test "$out" = 0
b run -d --init --name initstop $SH sleep 100 >/dev/null
start=$(date +%s%N)
b stop -t 20 initstop >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
check "--init forwards SIGTERM: stop ends the child at once (${ms} ms)" test "$ms" -lt 5000
expect_out "the container exited by SIGTERM" 143 \
	bq '.[0].state.exit_code' inspect initstop
b rm initstop >/dev/null

# --- pull ----------------------------------------------------------------------------------
REMOTE=$REGISTRY/opts/sh:v1
expect_exit "--pull never with a missing image fails" 125 b run --rm --pull never $REMOTE true
expect_contains "the error names the policy" "$T/stderr" "--pull never"
expect_out "--pull missing pulls a missing image" pulled-run b run --rm $REMOTE echo pulled-run
expect_contains "it says so on stderr" "$T/stderr" "Unable to find image"
expect_out "--pull never runs a present image" ok b run --rm --pull never $REMOTE echo ok
expect_out "--pull always pulls again" ok b run --rm --pull always $REMOTE echo ok
expect_contains "the pull shows on stderr" "$T/stderr" "pulled"
expect_exit "an invalid --pull is refused" 125 b run --rm --pull sometimes $SH true

left=$(b ps -a -q)
check "no container is left behind ($left)" test -z "$left"
it_summary
