#!/usr/bin/env bash
# The events of images, content, snapshots, leases and collections, as a user reads them with
# `berth events`: a pull, a pull of the same image again, an import and an import that moves
# the name, `run --rm`, `images rm` while the log is down (killed with -9, started again),
# `content rm`, `snapshots rm`, `system prune` and `system prune --all`. Each action's events
# appear once, with the documented payload (docs/events.md), in the documented namespace;
# what the stores free is exactly what their /content/delete and /snapshots/remove events
# name; and no event of these topics is ever logged twice.
#
# Usage: test/integration/test_events_stores.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image layers test/layers:v1 || { it_not_ok "push layers"; it_summary; exit 1; }
# Collections follow releases quickly; none runs on a timer.
IT_CONFIG='"contentd": {"gc_delay_ms": 100, "gc_interval_ms": 0}, "snapshotd": {"gc_delay_ms": 100, "gc_interval_ms": 0}'
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "the suite starts"
LAYERS=$REGISTRY/test/layers:v1
ROOT=$(data_root)

# --- reading the log -------------------------------------------------------------------------

now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# The stores' and images' events after sequence number SINCE (0: all) up to now, one JSON
# object a line.
store_events() { # SINCE
	b --format json events --since "${1:-0}" --until "$(now)" --filter topic=/images/ \
		--filter topic=/content/ --filter topic=/snapshots/ --filter topic=/leases/ \
		--filter topic=/gc/
}

# The sequence number of the last event logged.
last_seq() {
	b --format json events --since 0 --until "$(now)" | tail -n 1 | jq -r '.seq // 0'
}

# Events not yet delivered by the outboxes of contentd, snapshotd and imaged.
pending() {
	local d n=0
	for d in contentd snapshotd imaged; do
		n=$((n + $(sqlite3 "$ROOT/$d/meta.db" "SELECT count(*) FROM outbox WHERE target = 'gatewayd'")))
	done
	echo "$n"
}

# Wait (30 s at most) until every outbox is delivered and nothing was logged for a second:
# the collections that releases started have ended and announced themselves.
settle() {
	local last=-1 seq stable=0
	for _ in $(seq 60); do
		seq=$(last_seq)
		if [ "$(pending)" = 0 ] && [ "$seq" = "$last" ]; then
			stable=$((stable + 1))
			[ $stable -ge 2 ] && return 0
		else
			stable=0
		fi
		last=$seq
		sleep 0.5
	done
	it_log "the events did not settle: $(pending) pending"
	return 1
}

# select_count FILE JQ-FILTER: how many events of FILE the filter selects ("jq failed" when
# the filter or the file is broken, so that a check of 0 cannot pass by accident).
select_count() {
	local out
	out=$(jq -c "select($2)" "$1") || { echo "jq failed"; return; }
	[ -z "$out" ] && echo 0 || echo "$out" | wc -l
}

# expect_count NAME WANT FILE JQ-FILTER
expect_count() {
	local n
	n=$(select_count "$3" "$4")
	if [ "$n" = "$2" ]; then
		it_ok "$1"
	else
		it_not_ok "$1" "$n events, wanted $2: $4" "$(jq -c "select($4)" "$3" | head -n 5)"
	fi
}

# no_repeats NAME FILE: no event of FILE but /gc/run (whose payloads may well be alike) is
# there twice.
no_repeats() {
	local all dup
	all=$(jq -c 'select(.topic != "/gc/run") | [.namespace, .topic, .payload]' "$2") ||
		{ it_not_ok "$1" "jq failed on $2"; return; }
	dup=$(echo "$all" | sort | uniq -d)
	if [ -n "$all" ] && [ -z "$dup" ]; then
		it_ok "$1"
	else
		it_not_ok "$1" "$(echo "$dup" | head -n 3)"
	fi
}

# --- a pull ------------------------------------------------------------------------------------
mark=$(last_seq)
expect_exit "pull an image of three layers into namespace pull" 0 b -n pull images pull "$LAYERS"
settle
store_events "$mark" >"$T/pull.json"
b -n pull --format json images ls >"$T/images.json"
digest=$(jq -r --arg n "$LAYERS" '.[] | select(.name == $n) | .digest' "$T/images.json")
media=$(jq -r --arg n "$LAYERS" '.[] | select(.name == $n) | .media_type' "$T/images.json")
expect_count "/images/create once, in its namespace, with the name and target images ls shows" 1 \
	"$T/pull.json" ".topic == \"/images/create\" and .namespace == \"pull\" and .payload.name == \"$LAYERS\" and .payload.target.digest == \"$digest\" and .payload.target.media_type == \"$media\" and .payload.target.size > 0"
expect_count "no other image event" 1 "$T/pull.json" '.topic | startswith("/images/")'
expect_count "a /snapshots/prepare per layer, active, in a berth.extract key" 3 "$T/pull.json" \
	'.topic == "/snapshots/prepare" and .namespace == "pull" and .payload.kind == "active" and .payload.snapshotter == "overlayfs" and (.payload.key | startswith("berth.extract."))'
expect_count "a /snapshots/commit per layer, into berth.layer.<chain ID>" 3 "$T/pull.json" \
	'.topic == "/snapshots/commit" and .namespace == "pull" and (.payload.key | startswith("berth.layer.sha256:")) and (.payload.active | startswith("berth.extract."))'
# Each layer is prepared on its own (overlayfs: unpacked side by side), then committed in
# chain order from its active key, each onto the layer committed before it.
chain=$(jq -r 'select(.topic == "/snapshots/prepare" or .topic == "/snapshots/commit") |
	if .topic == "/snapshots/prepare" then "p \(.payload.key) \(.payload.parent // "-")" else "c \(.payload.active) \(.payload.key) \(.payload.parent // "-")" end' \
	"$T/pull.json" | awk '
	$1 == "p" { if ($3 != "-") bad = bad " parent " $3 " of " $2; active[$2] = 1 }
	$1 == "c" { if (!($2 in active)) bad = bad " commit of " $2; if ($4 != top) bad = bad " " $3 " on " $4; top = $3 }
	BEGIN { top = "-" } END { print bad; print top > "/dev/stderr" }' 2>"$T/top")
TOP=$(cat "$T/top")
check "each layer is prepared alone and committed from its active key onto the one before${chain:+:$chain}" \
	test -z "$chain" -a "$TOP" != -
for d in contentd snapshotd; do
	expect_count "the job's lease is created once in $d" 1 "$T/pull.json" \
		".topic == \"/leases/create\" and .namespace == \"pull\" and .payload.daemon == \"$d\" and (.payload.id | startswith(\"job-\")) and .payload.expire_at > 0 and .payload.labels[\"berth.owner\"] == \"imaged\""
	expect_count "and deleted once in $d, not as expired" 1 "$T/pull.json" \
		".topic == \"/leases/delete\" and .namespace == \"pull\" and .payload.daemon == \"$d\" and (.payload.id | startswith(\"job-\")) and .payload.expired == false"
	expect_count "the image's lease is created once in $d, never expiring, naming the image" 1 \
		"$T/pull.json" \
		".topic == \"/leases/create\" and .namespace == \"pull\" and .payload.daemon == \"$d\" and (.payload.id | startswith(\"image-\")) and .payload.expire_at == 0 and .payload.labels[\"berth.image\"] == \"$LAYERS\""
done
expect_count "a fresh pull removes no blob or snapshot" 0 "$T/pull.json" \
	'.topic == "/content/delete" or .topic == "/snapshots/remove"'
expect_count "collections are announced in namespace default, by daemon" 0 "$T/pull.json" \
	'.topic == "/gc/run" and (.namespace != "default" or (.payload.daemon | IN("contentd", "snapshotd") | not))'
no_repeats "no event of the pull is logged twice" "$T/pull.json"

# --- the same image again: nothing changes ---------------------------------------------------
mark=$(last_seq)
expect_exit "pull the same image again" 0 b -n pull images pull "$LAYERS"
settle
store_events "$mark" >"$T/repull.json"
expect_count "the same image pulled again emits no image event" 0 "$T/repull.json" \
	'.topic | startswith("/images/")'
expect_count "and unpacks no layer again" 0 "$T/repull.json" '.topic | startswith("/snapshots/")'
expect_count "only its job's lease comes and goes in both stores" 4 "$T/repull.json" \
	'(.topic | startswith("/leases/")) and (.payload.id | startswith("job-"))'

# --- import, and an import that moves the name ------------------------------------------------
mark=$(last_seq)
expect_exit "import an archive as imp/sh:v1" 0 b -n pull images import "$IMAGES/sh.tar" --name imp/sh:v1
settle
store_events "$mark" >"$T/import.json"
b -n pull --format json images ls >"$T/images.json"
IMP=docker.io/imp/sh:v1
sh_digest=$(jq -r --arg n "$IMP" '.[] | select(.name == $n) | .digest' "$T/images.json")
expect_count "the import is /images/create with the archive's target" 1 "$T/import.json" \
	".topic == \"/images/create\" and .namespace == \"pull\" and .payload.name == \"$IMP\" and .payload.target.digest == \"$sh_digest\""
expect_count "the upload's lease is created in contentd, expiring" 1 "$T/import.json" \
	'.topic == "/leases/create" and .payload.daemon == "contentd" and (.payload.id | startswith("import-")) and .payload.expire_at > 0'
expect_count "and deleted once the job holds the image" 1 "$T/import.json" \
	'.topic == "/leases/delete" and .payload.daemon == "contentd" and (.payload.id | startswith("import-")) and .payload.expired == false'
mark=$(last_seq)
expect_exit "import another image under the same name" 0 b -n pull images import "$IMAGES/extra.tar" --name imp/sh:v1
settle
store_events "$mark" >"$T/move.json"
b -n pull --format json images ls >"$T/images.json"
extra_digest=$(jq -r --arg n "$IMP" '.[] | select(.name == $n) | .digest' "$T/images.json")
check "the name now points to another image" test "$extra_digest" != "$sh_digest"
expect_count "the moved name is /images/update with the new target" 1 "$T/move.json" \
	".topic == \"/images/update\" and .namespace == \"pull\" and .payload.name == \"$IMP\" and .payload.target.digest == \"$extra_digest\""
expect_count "and nothing else about images" 1 "$T/move.json" '.topic | startswith("/images/")'

# --- a container's snapshot -----------------------------------------------------------------
mark=$(last_seq)
expect_out "run --rm on the pulled image" "" b -n pull run --rm "$LAYERS" true
settle
store_events "$mark" >"$T/run.json"
ctr_key=$(jq -r 'select(.topic == "/snapshots/prepare") | .payload.key' "$T/run.json")
expect_count "the container's snapshot is prepared once on the image's top layer" 1 "$T/run.json" \
	".topic == \"/snapshots/prepare\" and .namespace == \"pull\" and .payload.parent == \"$TOP\" and .payload.kind == \"active\""
expect_count "and removed once with the container" 1 "$T/run.json" \
	".topic == \"/snapshots/remove\" and .namespace == \"pull\" and .payload.key == \"$ctr_key\" and .payload.snapshotter == \"overlayfs\""
expect_count "its lease comes and goes in snapshotd" 2 "$T/run.json" \
	'(.topic | startswith("/leases/")) and .payload.daemon == "snapshotd" and .namespace == "pull"'

# --- images rm while the log is down ------------------------------------------------------------
b content ls -q | sort >"$T/blobs.before"
b -n pull snapshots ls -q | sort >"$T/snaps.before"
mark=$(last_seq)
expect_exit "images rm imp/sh:v1" 0 b -n pull images rm imp/sh:v1
# The collections that follow run while gatewayd is gone: their events wait in the stores.
daemon_kill9 gatewayd
sleep 1
it_log "events waiting while gatewayd is down: $(pending)"
daemon_start gatewayd
wait_healthy 20 || it_not_ok "gatewayd comes back"
settle
store_events "$mark" >"$T/rm.json"
b content ls -q | sort >"$T/blobs.after"
b -n pull snapshots ls -q | sort >"$T/snaps.after"
expect_count "/images/delete once, with what the name pointed to" 1 "$T/rm.json" \
	".topic == \"/images/delete\" and .namespace == \"pull\" and .payload.name == \"$IMP\" and .payload.target.digest == \"$extra_digest\""
for d in contentd snapshotd; do
	expect_count "the image's lease is deleted once in $d" 1 "$T/rm.json" \
		".topic == \"/leases/delete\" and .namespace == \"pull\" and .payload.daemon == \"$d\" and (.payload.id | startswith(\"image-\")) and .payload.expired == false"
	expect_count "a collection of $d ran and said so" 1 "$T/rm.json" \
		".topic == \"/gc/run\" and .namespace == \"default\" and .payload.daemon == \"$d\" and .payload.removed > 0 and .payload.duration_ms >= 0"
done
comm -23 "$T/blobs.before" "$T/blobs.after" >"$T/blobs.gone"
jq -r 'select(.topic == "/content/delete" and .namespace == "default") | .payload.digest' "$T/rm.json" |
	sort >"$T/blobs.events"
check "the blobs freed ($(wc -l <"$T/blobs.gone")) are exactly those /content/delete names, each once" \
	sh -c "test -s '$T/blobs.gone' && cmp -s '$T/blobs.gone' '$T/blobs.events'"
comm -23 "$T/snaps.before" "$T/snaps.after" >"$T/snaps.gone"
jq -r 'select(.topic == "/snapshots/remove" and .namespace == "pull") | .payload.key' "$T/rm.json" |
	sort >"$T/snaps.events"
check "the snapshots freed ($(wc -l <"$T/snaps.gone")) are exactly those /snapshots/remove names, each once" \
	sh -c "test -s '$T/snaps.gone' && cmp -s '$T/snaps.gone' '$T/snaps.events'"
no_repeats "across the log's restart no event is lost or logged twice" "$T/rm.json"

# --- content rm and snapshots rm, as root -----------------------------------------------------
config=$(jq -r --arg n "$LAYERS" '.[] | select(.name == $n) | .config_digest' "$T/images.json")
mark=$(last_seq)
expect_exit "content rm a blob" 0 b content rm "$config"
expect_exit "snapshots rm the image's top layer" 0 b -n pull snapshots rm "$TOP"
settle
store_events "$mark" >"$T/raw.json"
expect_count "content rm is /content/delete once, in namespace default" 1 "$T/raw.json" \
	".topic == \"/content/delete\" and .namespace == \"default\" and .payload.digest == \"$config\""
expect_count "snapshots rm is /snapshots/remove once, in the snapshot's namespace" 1 "$T/raw.json" \
	".topic == \"/snapshots/remove\" and .namespace == \"pull\" and .payload.key == \"$TOP\" and .payload.snapshotter == \"overlayfs\""
expect_count "nothing else was removed" 2 "$T/raw.json" \
	'.topic == "/content/delete" or .topic == "/snapshots/remove"'

# --- system prune -----------------------------------------------------------------------------
# What no lease holds and no release announces: only a collection on demand finds it.
"$BUILD/test/helpers/seed_store" blobs "$T/state" seed 20 >/dev/null &&
	"$BUILD/test/helpers/seed_store" snapshots "$T/state" seed 5 1 >/dev/null ||
	it_not_ok "seed unheld blobs and snapshots"
settle
mark=$(last_seq)
b --format json system prune >"$T/prune.out" 2>"$T/stderr" || it_not_ok "system prune" "$(cat "$T/stderr")"
settle
store_events "$mark" >"$T/prune.json"
blobs_removed=$(jq -r .blobs_removed "$T/prune.out")
snaps_removed=$(jq -r .snapshots_removed "$T/prune.out")
check "prune freed the 20 seeded blobs and 5 seeded snapshots ($blobs_removed, $snaps_removed)" \
	test "$blobs_removed $snaps_removed" = "20 5"
for d in contentd snapshotd; do
	want=$([ $d = contentd ] && echo "$blobs_removed" || echo "$snaps_removed")
	expect_count "one /gc/run of $d, with what prune reported ($want)" 1 "$T/prune.json" \
		".topic == \"/gc/run\" and .namespace == \"default\" and .payload.daemon == \"$d\" and .payload.removed == $want"
	expect_count "and no other collection of $d" 1 "$T/prune.json" \
		".topic == \"/gc/run\" and .payload.daemon == \"$d\""
done
expect_count "a /content/delete per blob freed" 20 "$T/prune.json" \
	'.topic == "/content/delete" and .namespace == "default"'
expect_count "a /snapshots/remove per snapshot freed, in their namespace" 5 "$T/prune.json" \
	'.topic == "/snapshots/remove" and .namespace == "seed" and (.payload.key | startswith("seed-"))'
no_repeats "no event of the prune is logged twice" "$T/prune.json"

mark=$(last_seq)
b --format json system prune --all --force >"$T/prune.out" 2>"$T/stderr" ||
	it_not_ok "system prune --all" "$(cat "$T/stderr")"
b -n pull --format json system prune --all --force >"$T/prune-pull.out" 2>"$T/stderr" ||
	it_not_ok "system prune --all in namespace pull" "$(cat "$T/stderr")"
settle
store_events "$mark" >"$T/all.json"
expect_count "prune --all is /images/delete of the unused image" 1 "$T/all.json" \
	".topic == \"/images/delete\" and .namespace == \"pull\" and .payload.name == \"$LAYERS\" and .payload.target.digest == \"$digest\""
expect_out "nothing is left in content" "" b content ls -q
expect_out "nothing is left in snapshots" "" b -n pull snapshots ls -q

# --- the whole log ----------------------------------------------------------------------------
store_events 0 >"$T/everything.json"
no_repeats "over the whole run, no store or image event is logged twice" "$T/everything.json"
b --format json events --since 0 --until "$(now)" --filter topic=/content/delete |
	jq -r .payload.digest | sort >"$T/all.deleted"
check "no blob is announced deleted twice" test -z "$(uniq -d "$T/all.deleted")"
expect_count "every event of these topics has its payload" 0 "$T/everything.json" \
	'(.payload | type) != "object" or (.payload | length) == 0'
it_summary
