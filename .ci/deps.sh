#!/usr/bin/env bash
# Installs what building, running and testing Berth needs on Debian 12, if it is missing.
# Used by `make run`, `make test` and CI. Safe to run again: it installs nothing when all is
# there. Needs root (or sudo) only when something is missing.
set -eu
pkgs=(
	build-essential pkg-config clang clang-format
	libnng-dev libmsgpack-dev libuv1-dev libcurl4-openssl-dev libssl-dev libarchive-dev
	libyajl-dev libsqlite3-dev sqlite3
	runc crun containernetworking-plugins iptables iproute2 util-linux procps
	busybox-static docker-registry skopeo attr zstd jq curl systemd openssl
	python3 # builds hostile archives (test/integration/test_archives.sh)
	prometheus # promtool checks what GET /metrics serves (test/integration/test_metrics.sh)
	apache2-utils # htpasswd for the registry with Basic authentication (test_registry_auth.sh)
	podman # loads the docker-archives that berth exports (test/integration/test_archives.sh)
)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
