#!/usr/bin/env bash
# Security defaults, with real runc through the real CLI and daemons: the default seccomp
# profile denies `unshare -U` and keyctl inside a container and --security-opt
# seccomp=unconfined lifts it; a profile FILE of the user's own applies (one that denies mkdir
# makes mkdir fail) and bad files are refused with errors naming them; hostnames are checked;
# an image whose /etc/passwd is a FIFO is refused at once instead of hanging taskd; the cgroup
# namespace and AppArmor follow the host (a check that does not apply here says "skipped").
#
# Usage: test/integration/test_security.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

it_setup
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "all six daemons start and report healthy"

# derive_image NAME USER DIR: the sh test image plus one layer made of DIR, whose config's
# User is USER; imported as sec/NAME:v1.
derive_image() {
	local name=$1 user=$2 dir=$3 out=$T/img/$name m c l size csize msize
	rm -rf "$out"
	mkdir -p "$out"
	cp -r "$IMAGES/sh/." "$out/"
	m=$(jq -r '.manifests[0].digest' "$out/index.json" | cut -d: -f2)
	c=$(jq -r '.config.digest' "$out/blobs/sha256/$m" | cut -d: -f2)
	(cd "$dir" && tar --owner=0 --group=0 --numeric-owner -cf "$T/img/$name-layer.tar" .)
	l=$(sha256sum "$T/img/$name-layer.tar" | cut -d' ' -f1)
	size=$(stat -c %s "$T/img/$name-layer.tar")
	mv "$T/img/$name-layer.tar" "$out/blobs/sha256/$l"
	jq -c --arg d "sha256:$l" --arg u "$user" '.rootfs.diff_ids += [$d] | .config.User = $u' \
		"$out/blobs/sha256/$c" >"$T/img/cfg"
	c=$(sha256sum "$T/img/cfg" | cut -d' ' -f1)
	csize=$(stat -c %s "$T/img/cfg")
	mv "$T/img/cfg" "$out/blobs/sha256/$c"
	jq -c --arg c "sha256:$c" --argjson cs "$csize" --arg l "sha256:$l" --argjson ls "$size" \
		'.config.digest = $c | .config.size = $cs |
		 .layers += [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": $l, "size": $ls}]' \
		"$out/blobs/sha256/$m" >"$T/img/man"
	m=$(sha256sum "$T/img/man" | cut -d' ' -f1)
	msize=$(stat -c %s "$T/img/man")
	mv "$T/img/man" "$out/blobs/sha256/$m"
	jq -c --arg m "sha256:$m" --argjson ms "$msize" \
		'.manifests[0].digest = $m | .manifests[0].size = $ms' "$out/index.json" >"$T/img/idx"
	mv "$T/img/idx" "$out/index.json"
	(cd "$out" && tar -cf "$T/img/$name.tar" oci-layout index.json blobs)
	b images import "$T/img/$name.tar" --name "sec/$name:v1" >/dev/null
}

expect_exit "import the busybox image" 0 b images import "$IMAGES/sh.tar" --name sec/sh:v1
SH=sec/sh:v1

# --- seccomp: the default profile ----------------------------------------------------------
expect_out "a default container runs under a seccomp filter" "Seccomp:	2" \
	b run --rm "$SH" grep Seccomp: /proc/self/status
expect_exit "unshare -U fails in a default container" 1 b run --rm "$SH" busybox unshare -U true
expect_contains "... with EPERM" "$T/stderr" "Operation not permitted"
expect_out "seccomp=unconfined runs without a filter" "Seccomp:	0" \
	b run --rm --security-opt seccomp=unconfined "$SH" grep Seccomp: /proc/self/status
expect_exit "unshare -U works with seccomp=unconfined" 0 \
	b run --rm --security-opt seccomp=unconfined "$SH" busybox unshare -U true
expect_exit "threads and processes still work (clone without namespace flags)" 0 \
	b run --rm "$SH" sh -c 'sleep 0 & wait'

# keyctl and friends: busybox has no applet for them, so a tiny static probe goes into an
# image of its own. It prints "NAME ok" or "NAME EPERM" (or another errno) per syscall.
mkdir -p "$T/probe/bin"
cat >"$T/probe.c" <<'PROBE'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *name, long rc)
{
	printf("%s %s\n", name, rc >= 0 ? "ok" : errno == EPERM ? "EPERM" : strerror(errno));
}
int main(void)
{
	errno = 0;
	report("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 1));
	report("add_key", syscall(SYS_add_key, "user", "berth-probe", "x", 1, -3));
	report("userfaultfd", syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */));
	report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	return 0;
}
PROBE
if ${CC:-cc} -static -O1 -o "$T/probe/bin/probe" "$T/probe.c" 2>"$T/probe.err"; then
	derive_image probe "" "$T/probe"
	b run --rm sec/probe:v1 /bin/probe >"$T/stdout" 2>"$T/stderr"
	for s in keyctl add_key userfaultfd kexec_load; do
		expect_contains "$s fails with EPERM in a default container" "$T/stdout" "$s EPERM"
	done
	b run --rm --security-opt seccomp=unconfined sec/probe:v1 /bin/probe >"$T/stdout" 2>"$T/stderr"
	expect_contains "keyctl works with seccomp=unconfined" "$T/stdout" "keyctl ok"
else
	it_skip "keyctl fails in a default container" "no static C toolchain: $(head -c 200 "$T/probe.err")"
fi

# --- seccomp: a profile of the user's own ---------------------------------------------------
cat >"$T/no-mkdir.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
expect_exit "a profile FILE that denies mkdir makes mkdir fail" 1 \
	b run --rm --security-opt "seccomp=$T/no-mkdir.json" "$SH" mkdir /tmp/x
expect_contains "... with EPERM" "$T/stderr" "Operation not permitted"
expect_exit "... and leaves other calls alone" 0 \
	b run --rm --security-opt "seccomp=$T/no-mkdir.json" "$SH" touch /tmp/y

expect_exit "a missing profile FILE is refused" 125 \
	b run --rm --security-opt "seccomp=$T/absent.json" "$SH" true
expect_contains "... naming the file" "$T/stderr" "seccomp profile: $T/absent.json"
printf '{"defaultAction": ' >"$T/truncated.json"
expect_exit "a profile that is not JSON is refused" 125 \
	b run --rm --security-opt "seccomp=$T/truncated.json" "$SH" true
expect_contains "... naming the file" "$T/stderr" "seccomp profile: $T/truncated.json"
echo '["SCMP_ACT_ALLOW"]' >"$T/array.json"
expect_exit "a profile that is no object is refused" 125 \
	b run --rm --security-opt "seccomp=$T/array.json" "$SH" true
expect_contains "... saying what is wrong" "$T/stderr" \
	"seccomp profile: $T/array.json: expected a JSON object"
echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}' >"$T/nonames.json"
expect_exit "a rule without names is refused" 125 \
	b run --rm --security-opt "seccomp=$T/nonames.json" "$SH" true
expect_contains "... naming the file and the rule" "$T/stderr" \
	"seccomp profile: $T/nonames.json: syscalls[0].names: expected a list of strings"
{ head -c $((250 * 1024)) /dev/zero | tr '\0' ' '; cat "$T/no-mkdir.json"; } >"$T/large.json"
expect_exit "a profile of 250 KiB crosses the front door" 1 \
	b run --rm --security-opt "seccomp=$T/large.json" "$SH" mkdir /tmp/x
head -c $((300 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
expect_exit "a profile over 256 KiB is refused" 125 \
	b run --rm --security-opt "seccomp=$T/huge.json" "$SH" true
expect_contains "... naming the file" "$T/stderr" "seccomp profile: $T/huge.json"
expect_exit "an unknown --security-opt is refused" 125 \
	b run --rm --security-opt apparmor=other "$SH" true
expect_contains "... saying what is expected" "$T/stderr" "expected seccomp=unconfined or seccomp=FILE"

# --- hostname -------------------------------------------------------------------------------
expect_out "--hostname sets the hostname" "web-1.internal" \
	b run --rm --hostname web-1.internal "$SH" hostname
expect_exit "a hostname with '_' is refused" 125 b run --rm --hostname bad_name "$SH" true
expect_contains "... with a clear error" "$T/stderr" \
	"invalid hostname \"bad_name\": only letters, digits, '-' and '.' are allowed"
expect_exit "a hostname of 64 characters is refused" 125 \
	b run --rm --hostname "$(printf 'a%.0s' $(seq 64))" "$SH" true
expect_contains "... saying the limit" "$T/stderr" "must be 1 to 63 characters"
expect_exit "a label ending in '-' is refused" 125 b run --rm --hostname web-.x "$SH" true
check "refused creates leave no container" test "$(b --format json ps -a | jq length)" = 0

# --- the image's /etc/passwd as a FIFO ------------------------------------------------------
mkdir -p "$T/fifo/etc"
mkfifo "$T/fifo/etc/passwd"
derive_image fifo nobody "$T/fifo"
start=$(date +%s%N)
expect_exit "an image whose /etc/passwd is a FIFO is refused" 125 \
	timeout 30 "$BUILD/berth" --address "$T/state/berth.sock" run --rm sec/fifo:v1 true
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_contains "... with a clear error" "$T/stderr" \
	"the image's /etc/passwd is a FIFO, not a regular file"
if [ "$elapsed_ms" -lt 10000 ]; then
	it_ok "... at once, without hanging (${elapsed_ms} ms)"
else
	it_not_ok "... at once, without hanging" "took ${elapsed_ms} ms"
fi
expect_out "taskd still answers after it" "ok" b run --rm "$SH" echo ok

# --- cgroup namespace and AppArmor follow the host -------------------------------------------
host_cgns=$(readlink /proc/self/ns/cgroup)
ctr_cgns=$(b run --rm "$SH" busybox readlink /proc/self/ns/cgroup)
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
	if [ -n "$ctr_cgns" ] && [ "$ctr_cgns" != "$host_cgns" ]; then
		it_ok "on a cgroup v2 host a container has a private cgroup namespace"
	else
		it_not_ok "on a cgroup v2 host a container has a private cgroup namespace" \
			"host $host_cgns, container $ctr_cgns"
	fi
else
	it_skip "a private cgroup namespace" \
		"/sys/fs/cgroup is $(stat -f -c %T /sys/fs/cgroup), not the unified cgroup2 hierarchy"
	check "on a cgroup v1 or hybrid host the container shares the host's cgroup namespace" \
		test "$ctr_cgns" = "$host_cgns"
fi

aa_enabled=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)
aa_profile=$(grep -oE '^(berth|docker)-default ' /sys/kernel/security/apparmor/profiles 2>/dev/null |
	sort | head -n 1 | tr -d ' ')
if [ "$aa_enabled" = Y ] && [ -n "$aa_profile" ]; then
	expect_out "the process runs under AppArmor's $aa_profile" "$aa_profile (enforce)" \
		b run --rm "$SH" cat /proc/self/attr/current
else
	it_skip "AppArmor's default profile" \
		"AppArmor is ${aa_enabled:-not available} here${aa_enabled:+, and no berth-default or docker-default profile is loaded}"
fi

it_summary
