#!/usr/bin/env bash
# No event lost or duplicated: 200 containers run (each exits with its own code) while
# gatewayd, taskd and imaged are each killed with -9 at random moments and started again.
# Afterwards the log holds exactly one /tasks/exit per container that ran, with the exit code
# taskd recorded, and a `berth events` follower that ran the whole time (going on across the
# gateway's deaths by itself) printed each of them exactly once, in order.
BUILD=${1:-build}
RUNS=${2:-200}
WORKERS=4
source "$(dirname "$0")/lib.sh"
it_setup
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
b images import "$IMAGES/sh.tar" --name chaos/sh:v1 >/dev/null || { it_not_ok "import"; it_summary; exit 1; }
seq0=$(b --format json events --since 0 --until 1000000000 2>/dev/null | tail -n 1 | jq -r '.seq // 0')

"$BUILD/berth" --address "$T/state/berth.sock" --format json events --since "$seq0" \
	--filter topic=/tasks/exit >"$T/follow.out" 2>"$T/follow.err" &
follower=$!

# The status of container $1 ("" when there is none, "?" when the gateway does not answer).
status_of() {
	local out
	out=$(b --format json ps -a 2>/dev/null) || { echo "?"; return; }
	echo "$out" | jq -r --arg id "$1" '.[] | select(.id == $id) | .status'
}

# worker W: runs W, W+WORKERS, ... each as container r<i>-<attempt> exiting with i % 7.
# When the CLI failed (a daemon was down), the run may still have happened (only the answer
# was lost); otherwise it is tried again under a new name.
worker() {
	local w=$1 i a name st
	for ((i = w; i < RUNS; i += WORKERS)); do
		for a in $(seq 30); do
			name=r$i-$a
			if b run -d --name "$name" chaos/sh:v1 sh -c "exit $((i % 7))" >/dev/null 2>&1; then
				break
			fi
			echo "$name" >>"$T/cli-failed"
			# until taskd has settled what became of the start
			for _ in $(seq 150); do
				st=$(status_of "$name")
				[ "$st" != "?" ] && [ "$st" != starting ] && break
				sleep 0.2
			done
			# Made but not started (yet): left as it is, and the run tried again under a new
			# name. A start still on its way may run it later; its exit counts like any.
			case $st in
			"" | created) ;;
			*) break ;;
			esac
		done
	done
}
for w in $(seq 0 $((WORKERS - 1))); do
	worker "$w" &
	workers+=($!)
done

# Meanwhile: kill -9 one of the three at random moments, and start it again.
kills=0
while :; do
	alive=0
	for p in "${workers[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 1 ] || break
	sleep "0.$((RANDOM % 9 + 1))"
	d=$(echo gatewayd taskd imaged | tr ' ' '\n' | shuf -n 1)
	daemon_kill9 "$d"
	sleep "0.$((RANDOM % 3))"
	daemon_start "$d"
	kills=$((kills + 1))
	[ $kills -ge 400 ] && break
done
for p in "${workers[@]}"; do wait "$p"; done
wait_healthy 30
it_ok "$RUNS runs with $kills kills of gatewayd, taskd or imaged along the way"

# Every container has exited and its exit reached the log.
for _ in $(seq 300); do
	running=$(b --format json ps -a 2>/dev/null |
		jq '[.[] | select(.status == "running" or .status == "starting")] | length')
	[ "$running" = 0 ] && break
	sleep 0.1
done
b --format json ps -a >"$T/ps.json"
jq -r '.[] | select(.status == "stopped") | "\(.id) \(.exit_status)"' "$T/ps.json" | sort >"$T/want"
ran=$(cut -d' ' -f1 "$T/want" | sed 's/-[0-9]*$//' | sort -u | wc -l)
if [ "$ran" -eq "$RUNS" ]; then
	it_ok "each of the $RUNS runs has a container that ran and exited"
else
	it_not_ok "every run has an exited container" "$ran of $RUNS; $(jq -r '.[] | "\(.id) \(.status)"' "$T/ps.json" | grep -v stopped | head -5)"
fi
# A run whose CLI failed may have been killed by the CLI's own clean-up (137) when it could not
# tell whether the start went through; any other run exits with its own code.
touch "$T/cli-failed"
wrong=$(awk 'NR == FNR { failed[$1] = 1; next }
	{ split($1, p, "-"); i = substr(p[1], 2); if ($2 != i % 7 && !($2 == 137 && failed[$1])) print }' \
	"$T/cli-failed" "$T/want" | head -3)
check "each exited with its own code${wrong:+: $wrong}" test -z "$wrong"

# The log: one /tasks/exit per container that ran, with its code.
for _ in $(seq 100); do
	b --format json events --since "$seq0" --until 1000000000 --filter topic=/tasks/exit \
		>"$T/log.json" 2>/dev/null
	[ "$(wc -l <"$T/log.json")" -ge "$(wc -l <"$T/want")" ] && break
	sleep 0.2
done
jq -r '"\(.payload.container_id) \(.payload.exit_status)"' "$T/log.json" | sort >"$T/got"
if cmp -s "$T/want" "$T/got"; then
	it_ok "the log holds exactly one /tasks/exit per run, with the right code ($(wc -l <"$T/got"))"
else
	it_not_ok "one /tasks/exit per run in the log" \
		"missing: $(comm -23 "$T/want" "$T/got" | head -3 | tr '\n' ' ')" \
		"extra or twice: $(comm -13 "$T/want" "$T/got" | head -3 | tr '\n' ' ') $(sort "$T/got" | uniq -d | head -3 | tr '\n' ' ')"
fi

# The follower: the same events, each once, in order.
for _ in $(seq 100); do
	[ "$(wc -l <"$T/follow.out")" -ge "$(wc -l <"$T/log.json")" ] && break
	sleep 0.1
done
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
if [ "$(jq -r .seq "$T/follow.out")" = "$(jq -r .seq "$T/log.json")" ]; then
	it_ok "the follower printed each exit once, in order, across the gateway's kills"
else
	it_not_ok "the follower saw each event once, in order" \
		"follower: $(wc -l <"$T/follow.out") lines, log: $(wc -l <"$T/log.json")" \
		"$(diff <(jq -r .seq "$T/follow.out") <(jq -r .seq "$T/log.json") | head -5 | tr '\n' ' ')" \
		"$(tail -n 2 "$T/follow.err")"
fi
b ps -a -q 2>/dev/null | xargs -r -n 50 "$BUILD/berth" --address "$T/state/berth.sock" rm -f >/dev/null 2>&1
it_summary
