#!/usr/bin/env bash
# Progress of image jobs as users and agents see it. A real docker-registry runs in a network
# namespace of this test's own behind a throttled veth pair (tc tbf), so that a pull of an
# image with two incompressible layers of a few MiB takes seconds. The same pull is then
# watched in these ways:
# - on a terminal (a real pty, script(1), of a set width): one line per layer with its state
#   and bytes, redrawn in place with cursor movements, a total line with a speed, no line
#   wider than the terminal; on a terminal of fewer rows than layers, drawings that fit;
# - piped: plain lines per state change of each layer, no escape sequences at all;
# - with --quiet: the image name alone on stdout, nothing on stderr;
# - a push and an export of the same image, piped: their own plain lines per blob;
# - through the job API (test/helpers/job_watch: jobs.wait with since_version and
#   interval_ms): layers with their states and bytes, versions that only grow, answers no
#   closer together than the interval asked for.
# Between the pulls the image is removed and the stores collected, so each pull moves bytes.
#
# Usage: test/integration/test_progress.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root (network namespaces, tc, mounts)"
	echo "0 passed, 1 failed"
	exit 1
fi

BIG_MB=4
RATE=40mbit
COLS=60
export BIG_IMAGE_MB=$BIG_MB # it_setup builds the "big" image too
it_setup
throttled_registry_start "$RATE" 10.214 false ||
	{ it_not_ok "a registry behind a throttled link of our own"; it_summary; exit 1; }
timeout 120 skopeo copy --quiet --dest-tls-verify=false "oci:$IMAGES/big:v1" \
	"docker://$REG_IP:5000/test/big:v1" || { it_not_ok "push the big image"; it_summary; exit 1; }
# The layers as the registry serves them: "digest size", the two big ones last.
skopeo inspect --raw --tls-verify=false "docker://$REG_IP:5000/test/big:v1" |
	jq -r '.layers[] | "\(.digest) \(.size)"' >"$T/layers"
n_layers=$(wc -l <"$T/layers")
big_hex=$(tail -n 2 "$T/layers" | cut -c8-19)
it_ok "a registry behind a throttled link ($RATE) holds an image of $n_layers layers"

IT_REGISTRIES=", {\"host\": \"$REG_IP:5000\", \"insecure\": true}"
IT_CONFIG='"contentd": {"gc_delay_ms": 100}, "snapshotd": {"gc_delay_ms": 100}'
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
BIG=$REG_IP:5000/test/big:v1

# forget: remove the image and collect its blobs, so that the next pull moves them again.
forget() {
	b images rm "$BIG" >/dev/null 2>&1
	for _ in $(seq 100); do
		b system prune >/dev/null 2>&1
		[ -z "$(b content ls -q 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	it_log "the blobs of $BIG are still there: $(b content ls -q | tr '\n' ' ')"
	return 1
}

# --- on a terminal ---------------------------------------------------------------------------
timeout 60 script -qfec "stty cols $COLS rows 40; $BUILD/berth --address $T/state/berth.sock \
pull $BIG" "$T/tty.typescript" >/dev/null 2>&1 </dev/null
rc=$?
# The screen's lines: split at newlines and carriage returns, escape sequences and script's
# own header and footer taken out.
sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$T/tty.typescript" | tr '\r' '\n' |
	sed -e '/^$/d' -e '/^Script started on /d' -e '/^Script done on /d' >"$T/tty.lines"
if [ $rc -eq 0 ] && grep -qx "pulled $BIG" "$T/tty.lines"; then
	it_ok "pull on a terminal: done"
else
	it_not_ok "pull on a terminal: done" "exit $rc" "$(tail -n 3 "$T/tty.lines")"
fi
missing=""
for h in $big_hex; do
	for s in downloading done; do
		grep -Eq "^$h: $s +[0-9.]+(B|KiB|MiB)/$BIG_MB\.0MiB$" "$T/tty.lines" || missing="$missing $h:$s"
	done
done
if [ -z "$missing" ]; then
	it_ok "each big layer has a live line, downloading then done, with its bytes of $BIG_MB MiB"
else
	it_not_ok "each big layer has a live line with its state and bytes" "missing:$missing" \
		"$(head -n 8 "$T/tty.lines")"
fi
if grep -Eq '^total: [0-9.]+(B|KiB|MiB)/[0-9.]+MiB  [0-9.]+(B|KiB|MiB)/s' "$T/tty.lines" &&
	grep -Eq '^total: [0-9.]+(KiB|MiB)/[0-9.]+MiB  [1-9][0-9.]*(KiB|MiB)/s' "$T/tty.lines"; then
	it_ok "a total line with bytes, total and a speed"
else
	it_not_ok "a total line with bytes, total and a speed" "$(grep '^total' "$T/tty.lines" | tail -n 3)"
fi
ups=$(grep -o $'\x1b\[[0-9]*A' "$T/tty.typescript" | wc -l)
erases=$(grep -o $'\x1b\[J' "$T/tty.typescript" | wc -l)
if [ "$ups" -ge 2 ] && [ "$erases" -ge 2 ]; then
	it_ok "redrawn in place: $ups cursor-up and $erases erase escapes"
else
	it_not_ok "redrawn in place with cursor movements" "$ups cursor-up, $erases erase"
fi
widest=$(grep -v "^pulled " "$T/tty.lines" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
if [ "$widest" -lt "$COLS" ]; then
	it_ok "no progress line is wider than the terminal ($widest < $COLS columns)"
else
	it_not_ok "no progress line is wider than the terminal" "$widest columns of $COLS" \
		"$(awk -v c="$COLS" 'length($0) >= c' "$T/tty.lines" | head -n 2)"
fi
check "the image is removed and collected" forget

# --- piped -----------------------------------------------------------------------------------
b pull "$BIG" >"$T/plain.out" 2>"$T/plain.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/plain.out")" = "pulled $BIG" ]; then
	it_ok "piped pull: the result on stdout"
else
	it_not_ok "piped pull: the result on stdout" "exit $rc: $(cat "$T/plain.out")" "$(tail -n 3 "$T/plain.err")"
fi
missing=""
for h in $big_hex; do
	for s in downloading done; do
		[ "$(grep -c "^$h: $s $BIG_MB\.0MiB$" "$T/plain.err")" = 1 ] || missing="$missing $h:$s"
	done
done
if [ -z "$missing" ]; then
	it_ok "piped: one plain line per state of each big layer"
else
	it_not_ok "piped: one plain line per state of each big layer" "missing:$missing" \
		"$(head -n 8 "$T/plain.err")"
fi
if grep -q $'\x1b' "$T/plain.err" "$T/plain.out"; then
	it_not_ok "piped: no escape sequences" "$(grep -c $'\x1b' "$T/plain.err") lines with one"
else
	it_ok "piped: no escape sequences ($(wc -l <"$T/plain.err") lines)"
fi

# --- a terminal with fewer rows than layers ----------------------------------------------------
check "the image is removed and collected for a small terminal" forget
timeout 60 script -qfec "stty cols $COLS rows 4; $BUILD/berth --address $T/state/berth.sock \
pull $BIG" "$T/small.typescript" >/dev/null 2>&1 </dev/null
rc=$?
sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$T/small.typescript" | tr '\r' '\n' |
	sed -e '/^$/d' -e '/^Script started on /d' -e '/^Script done on /d' >"$T/small.lines"
# At most 3 lines a drawing (a moving layer, the count of the others, the total) on 4 rows.
highest=$(grep -o $'\x1b\[[0-9]*A' "$T/small.typescript" | tr -dc '0-9\n' | sort -n | tail -n 1)
if [ $rc -eq 0 ] && grep -Eq '^\.\.\. [0-9]+ more layers \([0-9]+ done or there, [0-9]+ waiting\)$' \
	"$T/small.lines" && [ -n "$highest" ] && [ "$highest" -le 3 ]; then
	it_ok "a terminal of 4 rows: the other layers counted on one line, drawings of $highest lines"
else
	it_not_ok "a terminal of 4 rows: the other layers counted on one line" \
		"exit $rc, drawings up to ${highest:-?} lines" "$(head -n 6 "$T/small.lines")"
fi

# --- quiet -----------------------------------------------------------------------------------
expect_out "pull --quiet: the image name alone" "$BIG" b pull --quiet "$BIG"
if [ ! -s "$T/stderr" ]; then it_ok "pull --quiet: nothing on stderr"; else
	it_not_ok "pull --quiet: nothing on stderr" "$(head -n 3 "$T/stderr")"; fi
expect_out "images pull -q: the image name alone" "$BIG" b images pull -q "$BIG"
check "the image is removed and collected again" forget

# --- the job API -----------------------------------------------------------------------------
timeout 60 "$BUILD/test/helpers/job_watch" "$T/state/berth.sock" default "$BIG" 500 \
	>"$T/watch.jsonl" 2>"$T/watch.err"
rc=$?
answers=$(wc -l <"$T/watch.jsonl")
last=$(tail -n 1 "$T/watch.jsonl")
if [ $rc -eq 0 ] && [ "$(jq -r .state <<<"$last")" = done ]; then
	it_ok "jobs.wait follows the pull to its end in $answers answers"
else
	it_not_ok "jobs.wait follows the pull to its end" "exit $rc" "$(cat "$T/watch.err")"
fi
want=$(awk '{ printf "%s %s done %s\n", $1, $2, $2 }' "$T/layers")
got=$(jq -r '.layers[] | "\(.digest) \(.size) \(.state) \(.done)"' <<<"$last")
if [ "$got" = "$want" ]; then
	it_ok "the final answer lists the $n_layers layers in order, each done with all its bytes"
else
	it_not_ok "the final answer lists every layer done" "got: $got" "want: $want"
fi
moving=$(jq -c 'select(.state == "running") | .layers[] |
	select(.state == "downloading" and .done > 0 and .done < .size)' "$T/watch.jsonl" | wc -l)
if [ "$moving" -ge 1 ]; then
	it_ok "answers while running show layers part-way downloading ($moving)"
else
	it_not_ok "answers while running show layers part-way downloading" "$(head -n 3 "$T/watch.jsonl")"
fi
if jq -s -e '[.[].version] | . as $v | all(range(1; length); $v[.] > $v[. - 1])' \
	"$T/watch.jsonl" >/dev/null; then
	it_ok "every answer has a newer progress_version"
else
	it_not_ok "every answer has a newer progress_version" "$(jq -c .version "$T/watch.jsonl" | tr '\n' ' ')"
fi
# Each wait of a running job answered no sooner than its 500 ms interval (the first one too).
early=$(jq -r 'select(.state == "running" and .wait_ms < 480) | .wait_ms' "$T/watch.jsonl")
if [ "$answers" -ge 3 ] && [ -z "$early" ]; then
	it_ok "answers of a running job come no sooner than the 500 ms interval"
else
	it_not_ok "answers of a running job come no sooner than the 500 ms interval" \
		"$answers answers, early: $early"
fi

# --- push and export ---------------------------------------------------------------------------
# Both list what they move with the same display. The push goes to another repository of the
# same registry, which mounts the layers from test/big: they "exist" there already.
b push "$BIG" "$REG_IP:5000/test/copy:v1" >"$T/push.out" 2>"$T/push.err"
rc=$?
missing=""
for h in $big_hex; do
	grep -q "^$h: exists $BIG_MB\.0MiB$" "$T/push.err" || missing="$missing $h"
done
if [ $rc -eq 0 ] && [ -z "$missing" ] && grep -q "^pushed $REG_IP:5000/test/copy:v1@sha256:" "$T/push.out"; then
	it_ok "piped push: a plain line per blob (the layers exist there, mounted), then the result"
else
	it_not_ok "piped push: a plain line per blob, then the result" "exit $rc, missing:$missing" \
		"$(head -n 8 "$T/push.err")" "$(cat "$T/push.out")"
fi
b images export -o "$T/big.tar" "$BIG" >"$T/export.out" 2>"$T/export.err"
rc=$?
missing=""
for h in $big_hex; do
	grep -q "^$h: done $BIG_MB\.0MiB$" "$T/export.err" || missing="$missing $h"
done
if [ $rc -eq 0 ] && [ -z "$missing" ] && [ ! -s "$T/export.out" ]; then
	it_ok "piped export: each layer written, on stderr alone"
else
	it_not_ok "piped export: each layer written, on stderr alone" "exit $rc, missing:$missing" \
		"$(head -n 8 "$T/export.err")"
fi
expect_out "export -q: nothing on stderr" "" sh -c "'$BUILD/berth' --address '$T/state/berth.sock' \
	images export -q -o '$T/big2.tar' '$BIG' 2>&1 >/dev/null"

suite_stop
it_summary
