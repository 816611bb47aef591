#!/usr/bin/env bash
# Checks the systemd units as installed: `make install DESTDIR=...` lays out binaries, units
# and the default config, and `systemd-analyze verify` must accept every unit without a
# single line of output (it only warns on unknown keys, so any output is a failure).
#
# Usage: test/integration/test_units.sh [BUILD]
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0 n=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

dest=$(mktemp -d /tmp/berth-units.XXXXXX)
trap 'rm -rf "$dest"' EXIT

if out=$(make -C "$top" -s BUILD="$build" DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc \
	install 2>&1); then
	ok "make install with DESTDIR and PREFIX"
else
	not_ok "make install with DESTDIR and PREFIX" "$out"
fi
for f in usr/bin/berth usr/bin/berth-contentd usr/bin/berth-gatewayd usr/libexec/berth/berth-shim usr/libexec/berth/berth-init \
	etc/berth/berth.json lib/systemd/system/berth-taskd.service lib/systemd/system/berth.target; do
	if [ -e "$dest/$f" ]; then ok "installed /$f"; else not_ok "installed /$f" "missing"; fi
done

# Verify the installed units, with their binaries pointing into the staged tree.
units=$dest/units
mkdir -p "$units"
for u in "$dest"/lib/systemd/system/*; do
	sed -e "s|/usr/bin/|$dest/usr/bin/|g" -e "s|/etc/berth/|$dest/etc/berth/|g" "$u" \
		>"$units/$(basename "$u")"
done
if grep -q '@' "$units"/*; then
	not_ok "placeholders substituted" "$(grep -l '@' "$units"/*)"
else
	ok "placeholders substituted"
fi
for u in "$units"/*; do
	out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$u" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		ok "systemd-analyze verify $(basename "$u")"
	else
		not_ok "systemd-analyze verify $(basename "$u")" "exit $rc" "$out"
	fi
done
grep -q '^KillMode=process' "$units/berth-taskd.service" && ok "taskd keeps its shims on restart (KillMode=process)" ||
	not_ok "taskd keeps its shims on restart (KillMode=process)"
for u in "$units"/berth-*.service; do
	grep -q '^Type=notify' "$u" || not_ok "$(basename "$u") is Type=notify"
done
ok "every daemon unit is Type=notify"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
