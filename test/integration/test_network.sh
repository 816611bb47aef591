#!/usr/bin/env bash
# Container networks end to end: the real CLI, netd driving Debian's CNI plugins (bridge,
# host-local, portmap, firewall) with real iptables, and busybox containers.
#   - two containers on the default network reach each other by address and by name, and
#     each lists the other in /etc/hosts until it is removed; a container on another network
#     cannot reach them;
#   - published ports: a busybox httpd answers the host on 127.0.0.1 (-p HOSTPORT:CTRPORT,
#     -p 127.0.0.1:HOSTPORT:CTRPORT, -p CTRPORT with a port netd picks); a host port that
#     another container publishes or that a host process holds is refused before anything is
#     made; `berth port` and the PORTS column of `berth ps`;
#   - network create|ls|inspect|rm: subnets from the pool around the host's routes, a
#     --subnet overlapping a network or a route refused, rm refused while a container uses
#     the network, the configuration list, bridge and IP reservations gone after it, events;
#   - network connect|disconnect of a running container: eth1 comes and goes, and with it
#     the peers of the second network and their /etc/hosts lines;
#   - an internal network: peers reach each other, nothing else is reachable, no default
#     route, no published port;
#   - --net host and none, --dns, --add-host, a resolv.conf without loopback nameservers;
#   - nothing is left on the host (links, `ip netns` names, IP reservations, iptables rules,
#     netd's namespace mounts and files) after rm, after netd is killed (-9) while a run sets
#     up, after a container's shim is killed (-9), after every daemon is restarted with
#     containers running, and, once the networks are removed, the links are as before.
# Every name the suite gives the host (networks, bridges, subnets) holds its pid or was
# checked free, so that runs side by side do not meet. Every wait is bounded.
#
# Usage: test/integration/test_network.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
ITERATIONS=${ITERATIONS:-3}
source "$(dirname "$0")/lib.sh"
export LC_ALL=C # sort and comm of the host's state agree

it_setup

# --- names and ranges of this run ----------------------------------------------------------
DEF=bn$$        # the default network
N1=bn$$-one     # --subnet, --gateway, --label; rm refused while in use
NP1=bn$$-p1     # two networks given subnets from the pool
NP2=bn$$-p2     #   (the second one is the target of connect)
NI=bn$$-int     # --internal
NOVL=bn$$-ovl   # refused: overlaps
BR=bt$$         # bridges: ${BR}d the default network's, ${BR}x1, ${BR}x2, ... the others'
ROUTE_BR=${BR}r # a bridge of the suite's own holding host routes that subnets must avoid
NET_RE="bn$$(-[a-z0-9]+)?"
BR_RE="bt$$[dx][0-9]*"
HOLD_PID=""
read -r OA OP OC <<<"$(unused_10_octets 3 | tr '\n' ' ')"
if [ -z "$OC" ]; then
	it_not_ok "three ranges 10.X.0.0/16 (X from 200 to 254) free of the host's routes"
	it_summary
	exit 1
fi
SUB_RE="(^|[^0-9])10\\.($OA|$OP|$OC)\\."
it_log "default network $DEF on ${BR}d in 10.$OA.0.0/16, pool 10.$OP.0.0/16, given subnets in 10.$OC.0.0/16"

IT_NETD="\"network\": \"$DEF\", \"default_bridge\": \"${BR}d\",
  \"default_subnet\": \"10.$OA.0.0/16\", \"subnet_pool\": \"10.$OP.0.0/16\",
  \"bridge_prefix\": \"${BR}x\", \"cni_bin_dir\": \"/usr/lib/cni\""

# --- what this suite could leave on the host ------------------------------------------------

host_links() { ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort -u; }
our_bridges() { ip -o link show type bridge | awk -F': ' '{ print $2 }' | grep -xE "$BR_RE"; }
link_master() { ip -o link show dev "$1" 2>/dev/null | grep -o 'master [^ ]*' | cut -d' ' -f2; }
netns_names() { ip netns list 2>/dev/null | awk '{ print $1 }' | sort -u; }

# ipam_files MODE: the files under netd's IP reservations; MODE "containers": only the
# reservations themselves (files named by an address), which go with the containers, not
# host-local's lock and last-reserved files, which stay as long as their network.
ipam_files() {
	find "$(data_root)/netd/ipam" -type f -printf '%P\n' 2>/dev/null |
		if [ "$1" = containers ]; then
			awk -F/ '$NF ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/'
		else
			cat
		fi | sort
}

# ipt_ours MODE: "TABLE LINE" for each iptables-save line (counters dropped) that this suite's
# networks could have made: lines naming its subnets or networks (the plugins' comments name
# the network), and every line of a per-container chain (CNI-<hex>, CNI-DN-<hex>) such a line
# jumps to. MODE "all" adds the lines naming its bridges: the firewall plugin's isolation
# rules, which stay as long as the bridge (netd removes them with the network).
ipt_ours() {
	local pat="$SUB_RE|$NET_RE([^a-z0-9-]|\$)"
	[ "$1" = all ] && pat="$pat|(^| )$BR_RE( |\$)"
	iptables-save 2>/dev/null | PAT=$pat awk '
		/^\*/ { t = substr($0, 2); next }
		/^(#|COMMIT)/ { next }
		{
			sub(/ \[[0-9]+:[0-9]+\]$/, "")
			n++; tb[n] = t; ln[n] = $0
			if ($0 ~ ENVIRON["PAT"]) {
				hit[n] = 1
				s = $0
				while (match(s, /CNI-(DN-)?[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]+/)) {
					ch[t " " substr(s, RSTART, RLENGTH)] = 1
					s = substr(s, RSTART + RLENGTH)
				}
			}
		}
		END {
			for (i = 1; i <= n; i++) {
				split(ln[i], w, " ")
				c = w[1] == "-A" ? w[2] : substr(w[1], 2)
				if (hit[i] || (tb[i] " " c) in ch) print tb[i] " " ln[i]
			}
		}' | sort
}

# netd_state: netd's namespace mounts under T, and its per-container namespace files and
# hosts/resolv.conf directories.
netd_state() {
	mounts_under_t | grep "/netd/" | sed 's/^/mount /'
	find "$T/state/netd/netns" "$T/state/netd/files" -mindepth 2 -maxdepth 2 2>/dev/null |
		sed 's/^/file /'
}

# leak_snapshot DIR: the host's state before the suite's first container.
leak_snapshot() {
	mkdir -p "$1"
	host_links >"$1/links"
	netns_names >"$1/netns"
	ipam_files all >"$1/ipam"
	ipt_ours all >"$1/ipt"
	netd_state | sort >"$1/netd"
}

# leak_problems DIR MODE: one line for each thing there is now and was not in the snapshot DIR
# that this suite could have made. MODE "containers": the suite's networks exist (their
# bridges, host-local's files, their isolation rules may stay); "all": they were removed.
# Links of other runs are told apart by name (a bridge of ours) or master (a bridge of ours);
# a CNI host-side veth (veth + 8 hex digits) without a bridge counts as ours.
leak_problems() {
	local dir=$1 mode=$2 l m
	for l in $(comm -13 "$dir/links" <(host_links)); do
		if grep -qxE "$BR_RE" <<<"$l"; then
			[ "$mode" = all ] && echo "link $l: a bridge of the suite's networks"
			continue
		fi
		m=$(link_master "$l")
		if [ -n "$m" ]; then
			grep -qxE "$BR_RE" <<<"$m" && echo "link $l: on the bridge $m"
		elif [[ $l =~ ^veth[0-9a-f]{8}$ ]] && [ -e "/sys/class/net/$l" ]; then
			echo "link $l: a veth on no bridge"
		fi
	done
	for l in $(comm -13 "$dir/netns" <(netns_names)); do
		# the throttled registries of other suites' runs (lib.sh)
		[[ $l =~ ^brn[0-9]+$ ]] && [ "$l" != "brn$$" ] && continue
		echo "ip netns: $l"
	done
	comm -13 "$dir/ipam" <(ipam_files "$mode") | sed 's/^/ipam: /'
	comm -13 "$dir/ipt" <(ipt_ours "$mode") | sed 's/^/iptables: /'
	comm -13 "$dir/netd" <(netd_state | sort) | sed 's/^/netd: /'
}

# leak_check NAME MODE [SECONDS]: nothing left (leak_problems is empty) within SECONDS (10).
leak_check() {
	local name=$1 mode=$2 limit=$((${3:-10} * 2)) p=""
	for _ in $(seq "$limit"); do
		p=$(leak_problems "$T/leak0" "$mode")
		[ -z "$p" ] && { it_ok "$name"; return 0; }
		sleep 0.5
	done
	local lines
	mapfile -t lines < <(head -n 20 <<<"$p")
	it_not_ok "$name" "${lines[@]}"
}

# ipt_purge: delete every iptables line ipt_ours finds (rules, then the per-container chains
# they emptied), each in a transaction of its own: iptables-restore parses the quoting of
# iptables-save's comments.
ipt_purge() {
	local list t rest c
	list=$(ipt_ours all)
	while read -r t rest; do
		case $rest in
		-A\ *) printf '*%s\n-D %s\nCOMMIT\n' "$t" "${rest#-A }" | iptables-restore -w --noflush 2>/dev/null ;;
		esac
	done <<<"$list"
	while read -r t rest; do
		case $rest in
		:CNI-*)
			c=${rest%% *}
			c=${c#:}
			printf '*%s\n-F %s\n-X %s\nCOMMIT\n' "$t" "$c" "$c" | iptables-restore -w --noflush 2>/dev/null
			;;
		esac
	done <<<"$list"
}

# Even on failure: the host listener, the bridges (with the route bridge), netd's namespace
# mounts (lib.sh's sweep takes the rest of T) and the iptables lines of the suite's networks.
it_cleanup_extra() {
	if [ -n "$HOLD_PID" ]; then
		kill "$HOLD_PID" 2>/dev/null
		wait "$HOLD_PID" 2>/dev/null
		HOLD_PID=""
	fi
	local br m
	for m in $(mounts_under_t | grep "/netd/"); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for br in $(our_bridges) $ROUTE_BR; do
		ip link del "$br" 2>/dev/null
	done
	ipt_purge
	return 0
}

# --- container helpers ------------------------------------------------------------------------

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local limit=$(($1 * 10))
	shift
	for _ in $(seq "$limit"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# cip NAME [IFACE]: the container's IPv4 address on IFACE (eth0), without its prefix length.
cip() {
	b exec "$1" ip -o -4 addr show dev "${2:-eth0}" 2>/dev/null |
		awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}
# in_range ADDR PREFIX: ADDR starts with PREFIX ("10.201.1.").
in_range() { [ -n "$1" ] && [[ $1 == "$2"* ]]; }
# reaches NAME TARGET: one ping from container NAME to TARGET (address or name) is answered
# within 2 s.
reaches() { b exec "$1" busybox ping -c1 -W2 "$2" >/dev/null 2>&1; }
# unreachable NAME TARGET: the container runs and ping fails (exit 1: no answer within 2 s, or
# no route), within 10 s; not an exec that failed.
unreachable() {
	local t0=$SECONDS rc
	b exec "$1" busybox ping -c1 -W2 "$2" >/dev/null 2>&1
	rc=$?
	[ $rc -eq 1 ] || { echo "ping exited $rc"; return 1; }
	[ $((SECONDS - t0)) -le 10 ] || { echo "ping took $((SECONDS - t0)) s"; return 1; }
}
# hosts_lists NAME PEER ADDR: /etc/hosts of NAME has a line for ADDR naming PEER.
hosts_lists() {
	local h
	h=$(b exec "$1" cat /etc/hosts) || return 1
	awk -v ip="$3" -v n="$2" '$1 == ip { for (i = 2; i <= NF; i++) if ($i == n) f = 1 }
		END { exit !f }' <<<"$h"
}
# hosts_lacks NAME PEER: /etc/hosts of NAME can be read and names no PEER.
hosts_lacks() {
	local h
	h=$(b exec "$1" cat /etc/hosts) || return 1
	! awk -v n="$2" '{ for (i = 2; i <= NF; i++) if ($i == n) f = 1 } END { exit !f }' <<<"$h"
}
default_route() {
	local r
	r=$(b exec "$1" ip route) || return 1
	awk '$1 == "default" { print $3 }' <<<"$r"
}
ps_field() { b --format json ps -a | jq -r --arg n "$1" --arg f "$2" '.[] | select(.name == $n or .id == $n) | .[$f]'; }
is_status() { [ "$(ps_field "$1" status)" = "$2" ]; }
is_gone() {
	local out
	out=$(b --format json ps -a) || return 1
	[ -z "$(jq -r --arg n "$1" '.[] | select(.name == $n or .id == $n) | .id' <<<"$out")" ]
}
# nothing_of NAME: no record, no namespace and no files of container NAME.
nothing_of() {
	is_gone "$1" && [ ! -e "$T/state/netd/netns/default/$1" ] &&
		[ ! -e "$T/state/netd/files/default/$1" ]
}
# http_is PORT TEXT: the host's GET of 127.0.0.1:PORT answers TEXT.
http_is() {
	[ "$(curl -fsS --noproxy '*' --max-time 2 "http://${3:-127.0.0.1}:$1/" 2>/dev/null)" = "$2" ]
}
listening() { ss -Htln "sport = :$1" | grep -q .; }
# ps_shows NAME TEXT: `berth ps` has a PORTS column and NAME's row shows TEXT.
ps_shows() {
	local out
	out=$(b ps) || return 1
	head -n 1 <<<"$out" | grep -qw PORTS && awk -v n="$1" '$NF == n' <<<"$out" | grep -qF -- "$2"
}
shim_pid() {
	local f=$T/state/taskd/bundles/default/$1/task/shim.pid p
	if [ -s "$f" ]; then
		cat "$f"
		return
	fi
	for p in $(procs_under_t); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "berth-shim.*/default/$1[/ ]" &&
			{ echo "$p"; return; }
	done
}
inspect_net() {
	local j
	j=$(b network inspect "$1") || return 1
	jq -r ".[0] | $2" <<<"$j"
}
export -f b # for the checks that run a pipeline in bash -c
export T BUILD
# The busybox web server of the port checks: /www/index.html says hello.
HTTPD='mkdir -p /www && echo hello >/www/index.html && exec busybox httpd -f -p 80 -h /www'

# --- start --------------------------------------------------------------------------------
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "all six daemons start and report healthy"
SH=net/sh:v1
expect_exit "import the busybox image" 0 b images import "$IMAGES/sh.tar" --name "$SH"
leak_snapshot "$T/leak0"

# --- the default network --------------------------------------------------------------------
expect_exit "run pa on the default network" 0 b run -d --name pa "$SH" sleep 1000
expect_exit "run pb on the default network" 0 b run -d --name pb "$SH" sleep 1000
pa_ip=$(cip pa)
pb_ip=$(cip pb)
check "pa has an address of the default subnet 10.$OA.0.0/16 ($pa_ip)" in_range "$pa_ip" "10.$OA."
check "pb has another ($pb_ip)" bash -c "[ -n '$pb_ip' ] && [ '$pb_ip' != '$pa_ip' ]"
check "the default network's bridge ${BR}d holds the gateway 10.$OA.0.1/16" \
	bash -c "ip -o -4 addr show dev ${BR}d | grep -q ' 10\.$OA\.0\.1/16 '"
expect_out "pa's default route is the gateway" "10.$OA.0.1" default_route pa
check "pa reaches pb by its address" reaches pa "$pb_ip"
check "pa reaches pb by its name" reaches pa pb
check "pb reaches pa by its name" reaches pb pa
check "pa reaches its gateway" reaches pa "10.$OA.0.1"
check "pa's /etc/hosts names pb with its address" hosts_lists pa pb "$pb_ip"
check "pa's /etc/hosts names pa itself with its address" hosts_lists pa pa "$pa_ip"
check "pb's /etc/hosts names pa" hosts_lists pb pa "$pa_ip"
expect_out "network ls lists the default network, made on first use" "$DEF" b network ls -q

# --- another network: its own subnet, gateway and label; no way across ------------------------
expect_exit "network create --subnet --gateway --label" 0 b network create \
	--subnet "10.$OC.1.0/24" --gateway "10.$OC.1.254" --label team=a "$N1"
check "its configuration list is in cni_conf_dir" test -s "$T/cni/$N1.conflist"
expect_out "network inspect shows name, driver, subnet, gateway, internal, labels" \
	"$N1 bridge 10.$OC.1.0/24 10.$OC.1.254 false a" \
	inspect_net "$N1" '"\(.name) \(.driver) \(.subnet) \(.gateway) \(.internal) \(.labels.team)"'
expect_out "its id is 64 hex digits" true inspect_net "$N1" '.id | test("^[0-9a-f]{64}$")'
n1_br=$(inspect_net "$N1" .bridge)
check "its bridge is bridge_prefix and a number ($n1_br)" grep -qxE "${BR}x[0-9]+" <<<"$n1_br"
expect_exit "run xa on it" 0 b run -d --name xa --net "$N1" "$SH" sleep 1000
xa_ip=$(cip xa)
check "xa has an address of 10.$OC.1.0/24 ($xa_ip)" in_range "$xa_ip" "10.$OC.1."
check "the network's bridge holds the given gateway" \
	bash -c "ip -o -4 addr show dev '$n1_br' | grep -q ' 10\.$OC\.1\.254/24 '"
expect_out "xa's default route is the given gateway" "10.$OC.1.254" default_route xa
check "xa reaches its gateway" reaches xa "10.$OC.1.254"
check "xa cannot reach pa on the default network" unreachable xa "$pa_ip"
check "pa cannot reach xa" unreachable pa "$xa_ip"
check "xa's /etc/hosts does not name pa" hosts_lacks xa pa
check "pa's /etc/hosts does not name xa" hosts_lacks pa xa
expect_out "network inspect lists xa as a member (namespace, name, ifname, address)" \
	"default xa eth0 $xa_ip" inspect_net "$N1" \
	'.members[] | "\(.namespace) \(.name) \(.ifname) \(.address | sub("/.*"; ""))"'
expect_out "the member's mac is xa's eth0's" "$(b exec xa cat /sys/class/net/eth0/address)" \
	inspect_net "$N1" '.members[0].mac'
expect_out "network ls -q lists both networks" "$DEF
$N1" bash -c "b network ls -q | sort"
expect_out "network ls --format json" "$DEF $N1" \
	bash -c "b network ls --format json | jq -r '[.[].name] | sort | join(\" \")'"

# pb goes: pa's /etc/hosts forgets it.
expect_exit "rm pb" 0 b rm -f pb
if wait_for 5 hosts_lacks pa pb; then
	it_ok "pa's /etc/hosts no longer names pb once pb is removed"
else
	it_not_ok "pa's /etc/hosts no longer names pb within 5 s" "$(b exec pa cat /etc/hosts)"
fi
check "pa still names itself" hosts_lists pa pa "$pa_ip"

# --- create, inspect, ls, rm: errors ---------------------------------------------------------
expect_exit "network create of an existing name is refused" 4 b network create "$N1"
expect_exit "network create of an invalid name is refused" 2 b network create 'bad/name'
expect_contains "the refusal names it" "$T/stderr" "bad/name"
expect_exit "network inspect of an unknown network is NOT_FOUND" 3 b network inspect "bn$$-nope"
expect_exit "network rm of an unknown network is NOT_FOUND" 3 b network rm "bn$$-nope"
expect_exit "a --subnet overlapping another network's is refused" 4 \
	b network create --subnet "10.$OC.1.128/25" "$NOVL"
expect_contains "the refusal names that network" "$T/stderr" "$N1"
expect_exit "a --subnet overlapping the default network's is refused" 4 \
	b network create --subnet "10.$OA.7.0/24" "$NOVL"
expect_contains "the refusal names the default network" "$T/stderr" "$DEF"
# Routes of the host: a bridge of the suite's own with two addresses.
if ip link add "$ROUTE_BR" type bridge && ip addr add "10.$OC.9.1/24" dev "$ROUTE_BR" &&
	ip addr add "10.$OP.0.1/24" dev "$ROUTE_BR" && ip link set "$ROUTE_BR" up; then
	expect_exit "a --subnet overlapping a route of the host is refused" 4 \
		b network create --subnet "10.$OC.9.0/24" "$NOVL"
	expect_contains "the refusal names the route" "$T/stderr" "route"
	expect_exit "network create without --subnet" 0 b network create "$NP1"
	expect_exit "and another" 0 b network create "$NP2"
	expect_out "the first gets the pool's first /24 that no route of the host overlaps" \
		"10.$OP.1.0/24 10.$OP.1.1" inspect_net "$NP1" '"\(.subnet) \(.gateway)"'
	expect_out "the second the next one" "10.$OP.2.0/24 10.$OP.2.1" \
		inspect_net "$NP2" '"\(.subnet) \(.gateway)"'
	ip link del "$ROUTE_BR"
else
	it_not_ok "a bridge holding host routes" "ip link add $ROUTE_BR type bridge failed"
	b network create "$NP1" >/dev/null
	b network create "$NP2" >/dev/null
fi
check "no network is left from the refusals" bash -c "! b network ls -q | grep -qxF '$NOVL'"
check "the pool's networks have bridges of their own" bash -c \
	"[ \"\$(b network inspect '$NP1' | jq -r '.[0].bridge')\" != \"\$(b network inspect '$NP2' | jq -r '.[0].bridge')\" ]"

# --- rm while in use --------------------------------------------------------------------------
expect_exit "network rm of a network a container is on is refused" 5 b network rm "$N1"
expect_contains "the refusal names the container" "$T/stderr" xa
expect_exit "rm xa" 0 b rm -f xa
expect_out "then network rm removes it" "$N1" b network rm "$N1"
check "network ls no longer lists it" bash -c "! b network ls -q | grep -qxF '$N1'"
check "its bridge is gone" bash -c "! ip link show '$n1_br' >/dev/null 2>&1"
check "its configuration list is gone" test ! -e "$T/cni/$N1.conflist"
check "its IP reservations are gone" test ! -e "$(data_root)/netd/ipam/$N1"
events=$(b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	--filter topic=/networks/ | jq -r --arg n "$N1" \
	'select(.payload.name == $n or .payload.network == $n) | "\(.topic) \(.payload.container_id // .payload.name)"' |
	tr '\n' ,)
check "events: /networks/create, connect, disconnect, delete of $N1 ($events)" test "$events" = \
	"/networks/create $N1,/networks/connect xa,/networks/disconnect xa,/networks/delete $N1,"

# --- connect and disconnect -------------------------------------------------------------------
expect_exit "run cd on $NP2" 0 b run -d --name cd --net "$NP2" "$SH" sleep 1000
expect_exit "run cc on the default network" 0 b run -d --name cc "$SH" sleep 1000
cd_ip=$(cip cd)
check "cd has an address of $NP2 ($cd_ip)" in_range "$cd_ip" "10.$OP.2."
check "before connect cc cannot reach cd" unreachable cc "$cd_ip"
expect_exit "network connect of an unknown network is NOT_FOUND" 3 b network connect "bn$$-nope" cc
expect_exit "network connect $NP2 cc" 0 b network connect "$NP2" cc
cc_eth1=$(cip cc eth1)
check "cc has eth1 with an address of $NP2 ($cc_eth1)" in_range "$cc_eth1" "10.$OP.2."
check "cc reaches cd through it" reaches cc "$cd_ip"
check "cc reaches cd by name" wait_for 5 reaches cc cd
check "cd's /etc/hosts names cc with its address on $NP2" wait_for 5 hosts_lists cd cc "$cc_eth1"
check "cc still reaches pa on the default network" reaches cc "$pa_ip"
expect_out "network inspect lists cc on eth1" "cc eth1" inspect_net "$NP2" \
	'.members[] | select(.name == "cc") | "\(.name) \(.ifname)"'
expect_exit "network disconnect $NP2 cc" 0 b network disconnect "$NP2" cc
check "cc has no eth1 any more" bash -c "! b exec cc ip link show eth1 >/dev/null 2>&1 && b exec cc ip link show eth0 >/dev/null"
check "cc no longer reaches cd" unreachable cc "$cd_ip"
check "cd's /etc/hosts no longer names cc" wait_for 5 hosts_lacks cd cc
check "cc still reaches pa" reaches cc "$pa_ip"
expect_out "network inspect no longer lists cc" "" inspect_net "$NP2" '.members[] | select(.name == "cc") | .name'

# --- an internal network ----------------------------------------------------------------------
expect_exit "network create --internal" 0 b network create --internal --subnet "10.$OC.3.0/24" "$NI"
expect_out "inspect: internal, without a gateway" "true " inspect_net "$NI" '"\(.internal) \(.gateway)"'
expect_exit "run i1 on it" 0 b run -d --name i1 --net "$NI" "$SH" sleep 1000
expect_exit "run i2 on it" 0 b run -d --name i2 --net "$NI" "$SH" sleep 1000
i2_ip=$(cip i2)
check "i2 has an address of 10.$OC.3.0/24 ($i2_ip)" in_range "$i2_ip" "10.$OC.3."
check "i1 reaches i2 by address" reaches i1 "$i2_ip"
check "i1 reaches i2 by name" reaches i1 i2
expect_out "i1 has no default route" "" default_route i1
check "i1 has the route of its subnet" bash -c \
	"b exec i1 ip route | grep -q '^10\.$OC\.3\.0/24 '"
check "i1 cannot reach the default network's bridge" unreachable i1 "10.$OA.0.1"
check "i1 cannot reach a container of another network" unreachable i1 "$pa_ip"
expect_exit "publishing a port on an internal network is refused" 125 \
	b run -d --name i3 --net "$NI" -p 80 "$SH" sleep 1000
expect_contains "the refusal says the network is internal" "$T/stderr" internal
check "nothing is left of i3" nothing_of i3

# --- published ports --------------------------------------------------------------------------
HP=$(free_port)
expect_exit "run -p $HP:80 a busybox httpd" 0 b run -d --name web -p "$HP:80" "$SH" sh -c "$HTTPD"
check "the host gets its page on 127.0.0.1:$HP" wait_for 10 http_is "$HP" hello
check "and on the host's own address of the default bridge" http_is "$HP" hello "10.$OA.0.1"
expect_out "berth port web" "80/tcp -> 0.0.0.0:$HP" b port web
check "berth ps shows it in the PORTS column" ps_shows web "0.0.0.0:$HP->80/tcp"
check "pa reaches web's page by name" bash -c \
	"b exec pa sh -c 'printf \"GET / HTTP/1.0\r\n\r\n\" | busybox nc -w 3 web 80' | grep -qx hello"
expect_exit "a second container publishing the same host port is refused" 125 \
	b run -d --name web2 -p "$HP:80" "$SH" sleep 1000
expect_contains "the error names the port" "$T/stderr" ":$HP"
check "nothing is left of web2" nothing_of web2
check "web still answers" http_is "$HP" hello

HP2=$(free_port)
busybox nc -l -p "$HP2" </dev/null >/dev/null 2>&1 &
HOLD_PID=$!
if wait_for 5 listening "$HP2"; then
	expect_exit "a host port a host process listens on is refused" 125 \
		b run -d --name held -p "$HP2:80" "$SH" sh -c "$HTTPD"
	expect_contains "the error names the port" "$T/stderr" ":$HP2"
	check "nothing is left of it" nothing_of held
else
	it_not_ok "a host process listens on $HP2"
fi
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
HOLD_PID=""
expect_exit "once that process is gone the port can be published" 0 \
	b run -d --name held -p "$HP2:80" "$SH" sh -c "$HTTPD"
check "and answers" wait_for 10 http_is "$HP2" hello

expect_exit "run -p 80: netd picks the host port" 0 b run -d --name auto -p 80 "$SH" sh -c "$HTTPD"
line=$(b port auto)
AP=${line##*:}
check "berth port auto: 80/tcp -> 0.0.0.0:PORT ($line)" grep -qxE '80/tcp -> 0\.0\.0\.0:[0-9]+' <<<"$line"
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
check "the port is of the kernel's ephemeral range $lo-$hi" bash -c "[ '$AP' -ge $lo ] && [ '$AP' -le $hi ]"
check "it answers" wait_for 10 http_is "$AP" hello

HP3=$(free_port)
expect_exit "-p 127.0.0.1:$HP3:80" 0 b run -d --name lo1 -p "127.0.0.1:$HP3:80" "$SH" sh -c "$HTTPD"
expect_out "berth port shows the host address" "80/tcp -> 127.0.0.1:$HP3" b port lo1
check "it answers on 127.0.0.1" wait_for 10 http_is "$HP3" hello
HPU=$(free_port)
expect_exit "-p $HPU:53/udp" 0 b run -d --name udp -p "$HPU:53/udp" "$SH" sleep 1000
expect_out "berth port shows udp" "53/udp -> 0.0.0.0:$HPU" b port udp

expect_exit "rm web" 0 b rm -f web
expect_exit "a removed container's host port can be published again" 0 \
	b run -d --name web3 -p "$HP:80" "$SH" sh -c "$HTTPD"
check "and answers" wait_for 10 http_is "$HP" hello

# --- host, none, DNS options ------------------------------------------------------------------
hostif=$(ip route show default | awk '{ print $5; exit }')
out=$(b run --rm --net host "$SH" ip -o link | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
check "--net host sees the host's interfaces ($hostif, ${BR}d)" \
	bash -c "grep -qx '$hostif' <<<'$out' && grep -qx '${BR}d' <<<'$out'"
expect_out "--net host has the host's resolv.conf as it is" "$(cat /etc/resolv.conf)" \
	b run --rm --net host "$SH" cat /etc/resolv.conf
expect_out "--net none has lo only" lo \
	bash -c "b run --rm --net none $SH ip -o link | awk -F': ' '{ print \$2 }'"
expect_out "--dns 10.1.2.3 is the only nameserver" "nameserver 10.1.2.3" \
	b run --rm --dns 10.1.2.3 "$SH" grep '^nameserver' /etc/resolv.conf
expect_out "--add-host foo:10.9.8.7 is a line of /etc/hosts" "10.9.8.7 foo" \
	bash -c "b run --rm --add-host foo:10.9.8.7 $SH cat /etc/hosts | awk '\$2 == \"foo\" { print \$1, \$2 }'"
ns=$(b run --rm "$SH" grep '^nameserver' /etc/resolv.conf)
check "resolv.conf has nameservers, none on loopback ($(tr '\n' ' ' <<<"$ns"))" \
	bash -c "[ -n '$ns' ] && ! grep -qE '^nameserver[[:space:]]+(127\.|::1)' <<<'$ns'"
while read -r n; do
	check "the host's nameserver $n is kept" grep -qx "nameserver $n" <<<"$ns"
done < <(awk '$1 == "nameserver" && $2 !~ /^(127\.|::1$)/ { print $2 }' /etc/resolv.conf)

# --- leaks: rm ----------------------------------------------------------------------------------
for c in $(b ps -a -q); do b rm -f "$c" >/dev/null; done
expect_out "every container is removed" "" b ps -a -q
leak_check "after rm of every container nothing of them is left on the host" containers 10

# --- leaks: netd killed (-9) while a run sets up ------------------------------------------------
delays=(0.05 0.15 0.3 0.5)
for i in $(seq "$ITERATIONS"); do
	name=nk$i
	delay=${delays[$(((i - 1) % ${#delays[@]}))]}
	b run -d --name "$name" -p "$(free_port):80" "$SH" sleep 1000 >"$T/nk.out" 2>"$T/nk.err" &
	run=$!
	sleep "$delay"
	daemon_kill9 netd
	sleep 0.3
	daemon_start netd
	wait "$run"
	rc=$?
	wait_healthy 20 >/dev/null
	if [ $rc -eq 0 ]; then
		check "netd killed $delay s into a run ($i): the run succeeded and its container reaches its gateway" \
			reaches "$name" "10.$OA.0.1"
	elif [ $rc -eq 125 ] && [ -s "$T/nk.err" ] && ! grep -q -- --help "$T/nk.err"; then
		it_ok "netd killed $delay s into a run ($i): the run failed clearly: $(tail -n 1 "$T/nk.err")"
	else
		it_not_ok "netd killed $delay s into a run ($i): the run ends with 0 or 125" \
			"exit $rc: $(tail -n 2 "$T/nk.err")"
	fi
	b rm -f "$name" >/dev/null 2>&1
	if wait_for 20 is_gone "$name"; then
		leak_check "netd killed $delay s into a run ($i): nothing is left once it is removed" containers 30
	else
		it_not_ok "netd killed $delay s into a run ($i): the container can be removed" \
			"$(b ps -a | grep "$name")"
	fi
done
expect_exit "after netd's restarts a new container runs" 0 b run -d --name after "$SH" sleep 1000
check "and reaches its gateway" reaches after "10.$OA.0.1"
b rm -f after >/dev/null

# --- leaks: a container's shim killed (-9) ---------------------------------------------------------
SP=$(free_port)
expect_exit "run sk with -p $SP:80" 0 b run -d --name sk -p "$SP:80" "$SH" sh -c "$HTTPD"
wait_for 10 http_is "$SP" hello
spid=$(shim_pid sk)
if [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null; then
	check "with its shim killed the container is stopped" wait_for 10 is_status sk stopped
	expect_exit "and can be removed" 0 b rm -f sk
	leak_check "after the shim was killed and the container removed nothing of it is left" containers 15
	expect_exit "its host port can be published again" 0 b run -d --name sk2 -p "$SP:80" "$SH" sh -c "$HTTPD"
	check "and answers" wait_for 10 http_is "$SP" hello
	b rm -f sk2 >/dev/null
else
	it_not_ok "find sk's shim" "shim pid '$spid'"
	b rm -f sk >/dev/null
fi

# --- leaks: every daemon restarted with containers running -------------------------------------
RP=$(free_port)
expect_exit "run keep1 with -p $RP:80" 0 b run -d --name keep1 -p "$RP:80" "$SH" sh -c "$HTTPD"
expect_exit "run keep2" 0 b run -d --name keep2 --net "$NP1" "$SH" sleep 1000
wait_for 10 http_is "$RP" hello
suite_stop
suite_start || it_not_ok "the suite starts again"
check "after every daemon restarted keep1's port still answers" wait_for 10 http_is "$RP" hello
check "keep1 still reaches its gateway" reaches keep1 "10.$OA.0.1"
check "keep2 still reaches its own gateway" reaches keep2 "10.$OP.1.1"
expect_exit "rm keep1 keep2" 0 b rm -f keep1 keep2
leak_check "after the restart and rm nothing of them is left" containers 15

# --- the networks removed: the host as before ----------------------------------------------------
for n in "$NP1" "$NP2" "$NI" "$DEF"; do
	expect_out "network rm $n" "$n" b network rm "$n"
done
expect_exit "the default network is made again on its next use" 0 b run --rm "$SH" true
expect_out "network ls lists it again" "$DEF" b network ls -q
expect_out "network rm of the default network again" "$DEF" b network rm "$DEF"
expect_out "network ls lists nothing" "" b network ls -q
leak_check "with the networks removed nothing of the suite is left on the host" all 10
changed=$(comm -3 "$T/leak0/links" <(host_links) | tr -d '\t' | tr '\n' ' ')
[ -n "$changed" ] && it_log "links that came or went meanwhile (other runs'): $changed"

it_summary
