#!/usr/bin/env bash
# Registries that ask for something, through the real CLI against the real daemons: a
# docker-registry with TLS (a CA made here, a server certificate for 127.0.0.1 and localhost)
# and htpasswd Basic authentication; a second one with TLS that wants a client certificate
# (mutual TLS); a third, plain one that mirrors the second. Images are pushed with skopeo
# (--dest-creds, --dest-cert-dir). Checked: berth login (config.json written atomically, mode
# 0600, other keys kept; wrong password refused with PERMISSION_DENIED's exit code), pulls
# with and without the login, logout, an unknown CA (a clear TLS error), mutual TLS without
# and with the client certificate, a mirror that serves the image (its access log shows the
# fetch), a mirror that is down and one that lacks the image (the registry itself serves),
# and that the password appears in no log and in no output.
#
# Usage: test/integration/test_registry_auth.sh [BUILD]   (as root)
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

PW='pw-Zq7!secret'
REG_PIDS=()

it_cleanup_extra() {
	local p
	for p in "${REG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

# make_certs: a CA, a server certificate for 127.0.0.1 and localhost, a client CA and a
# client certificate, in $T/pki.
make_certs() {
	local d=$T/pki
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth test CA" \
			-keyout ca.key -out ca.pem
		openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
			-keyout server.key -out server.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile server.ext -out server.pem
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth test client CA" \
			-keyout client-ca.key -out client-ca.pem
		openssl req -newkey rsa:2048 -nodes -subj "/CN=berth node" \
			-keyout client.key -out client.csr
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca.key \
			-CAcreateserial -days 2 -extfile client.ext -out client.pem
	) >"$T/logs/openssl.log" 2>&1
}

# start_registry NAME PORT YAML_HTTP_EXTRA YAML_TOP_EXTRA: a docker-registry with its access
# log in $T/logs/NAME.log.
start_registry() {
	local name=$1 port=$2
	mkdir -p "$T/$name"
	cat >"$T/$name.yml" <<-EOF
	version: 0.1
	log:
	  level: info
	  formatter: text
	  accesslog:
	    disabled: false
	storage:
	  filesystem:
	    rootdirectory: $T/$name
	http:
	  addr: 127.0.0.1:$port
	$3
	$4
	EOF
	docker-registry serve "$T/$name.yml" >"$T/logs/$name.log" 2>&1 &
	REG_PIDS+=($!)
	for _ in $(seq 100); do
		ss -Htln "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	it_log "registry $name did not start"
	tail -n 5 "$T/logs/$name.log"
	return 1
}

it_setup
command -v htpasswd >/dev/null || { it_not_ok "htpasswd (apache2-utils) is installed"; it_summary; exit 1; }
make_certs || { it_not_ok "openssl makes the certificates"; it_summary; exit 1; }
PA=$(free_port) # TLS + htpasswd
PB=$(free_port) # mutual TLS
PM=$(free_port) # plain mirror
PD=$(free_port) # nobody: a mirror that is down
while [ "$PB" = "$PA" ]; do PB=$(free_port); done
while [ "$PM" = "$PA" ] || [ "$PM" = "$PB" ]; do PM=$(free_port); done
while [ "$PD" = "$PA" ] || [ "$PD" = "$PB" ] || [ "$PD" = "$PM" ]; do PD=$(free_port); done
A=127.0.0.1:$PA
B=127.0.0.1:$PB
M=127.0.0.1:$PM
htpasswd -Bbn alice "$PW" >"$T/htpasswd" 2>/dev/null
TLS="  tls:
    certificate: $T/pki/server.pem
    key: $T/pki/server.key"
start_registry reg-a "$PA" "$TLS" "auth:
  htpasswd:
    realm: berth-test
    path: $T/htpasswd" &&
	start_registry reg-b "$PB" "$TLS
    clientcas:
      - $T/pki/client-ca.pem" "" &&
	start_registry reg-m "$PM" "" "" ||
	{ it_not_ok "registries start"; it_summary; exit 1; }

# skopeo's certificate directories: *.crt CAs, *.cert and *.key a client certificate.
mkdir -p "$T/certs-a" "$T/certs-b"
cp "$T/pki/ca.pem" "$T/certs-a/ca.crt"
cp "$T/pki/ca.pem" "$T/certs-b/ca.crt"
cp "$T/pki/client.pem" "$T/certs-b/client.cert"
cp "$T/pki/client.key" "$T/certs-b/client.key"
tag=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$IMAGES/sh/index.json")
push() { timeout 120 skopeo copy --quiet "$@" >>"$T/logs/skopeo.log" 2>&1; }
push --dest-creds "alice:$PW" --dest-cert-dir "$T/certs-a" "oci:$IMAGES/sh:$tag" \
	"docker://$A/private/sh:v1" &&
	push --dest-cert-dir "$T/certs-b" "oci:$IMAGES/sh:$tag" "docker://$B/upstream-only/sh:v1" &&
	push --dest-cert-dir "$T/certs-b" "oci:$IMAGES/sh:$tag" "docker://$B/mirrored/sh:v1" &&
	push --dest-tls-verify=false "oci:$IMAGES/sh:$tag" "docker://$M/mirrored/sh:v1" ||
	{ it_not_ok "skopeo pushes the images" "$(tail -n 3 "$T/logs/skopeo.log")"; it_summary; exit 1; }

# 127.0.0.1 names are configured with the CA; localhost ones are not (an unknown CA) or
# without the client certificate. The mutual-TLS registry has a mirror that is down, then the
# plain mirror.
REGISTRY=$A
IT_REGISTRIES=", {\"host\": \"$B\", \"ca_file\": \"$T/pki/ca.pem\",
      \"client_cert\": \"$T/pki/client.pem\", \"client_key\": \"$T/pki/client.key\",
      \"mirrors\": [\"http://127.0.0.1:$PD\", {\"url\": \"http://$M\", \"capabilities\": [\"pull\", \"resolve\"]}]},
    {\"host\": \"localhost:$PB\", \"ca_file\": \"$T/pki/ca.pem\"}"
# write_config puts REGISTRY first as an insecure host: give A its own entry instead.
write_config() {
	cat >"$T/berth.json" <<-EOF
	{
	  "root": "$T/root",
	  "state": "$T/state",
	  "log": {"level": "debug"},
	  "imaged": {"registries": [{"host": "$A", "ca_file": "$T/pki/ca.pem"}$IT_REGISTRIES]},
	  "netd": {"network": "none", "cni_conf_dir": "$T/cni"},
	  "gatewayd": {"group": "nogroup"}
	}
	EOF
}
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
it_ok "the daemons start with TLS, client certificate and mirror settings"

export DOCKER_CONFIG=$T/docker
mkdir -p "$DOCKER_CONFIG"
printf '{"psFormat": "table {{.ID}}", "auths": {"other.example.com": {"auth": "eDp5"}},\n "credHelpers": {"helped.example.com": "secretservice"}}\n' \
	>"$DOCKER_CONFIG/config.json"
chmod 0644 "$DOCKER_CONFIG/config.json"

# --- credentials ---------------------------------------------------------------------------
expect_exit "a pull without credentials is refused (PERMISSION_DENIED)" 8 \
	b images pull "$A/private/sh:v1"
expect_contains "the error says authentication is required" "$T/stderr" "authentication required"
cp "$T/stderr" "$T/out-anon"

expect_exit "login with a wrong password is refused (PERMISSION_DENIED)" 8 \
	sh -c 'echo wrong-password | "$0" --address "$1" login -u alice --password-stdin "$2"' \
	"$BUILD/berth" "$T/state/berth.sock" "$A"
expect_contains "the error says the registry refused the credentials" "$T/stderr" \
	"the registry refused the credentials"
check "a refused login stores nothing" \
	sh -c "! grep -q '$A' '$DOCKER_CONFIG/config.json'"
cp "$T/stderr" "$T/out-wrong"

expect_out "login with --password-stdin succeeds" "Login Succeeded" \
	sh -c 'printf "%s\n" "$3" | "$0" --address "$1" login -u alice --password-stdin "$2"' \
	"$BUILD/berth" "$T/state/berth.sock" "$A" "$PW"
cp "$T/stderr" "$T/out-login"
check "config.json is mode 0600" test "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600
want_auth=$(printf 'alice:%s' "$PW" | base64 -w0)
check "config.json holds the docker-style auth entry" \
	jq -e --arg r "$A" --arg a "$want_auth" '.auths[$r].auth == $a' "$DOCKER_CONFIG/config.json"
check "config.json keeps the keys Berth does not use" \
	jq -e '.psFormat == "table {{.ID}}" and .auths["other.example.com"].auth == "eDp5" and
		.credHelpers["helped.example.com"] == "secretservice"' "$DOCKER_CONFIG/config.json"
check "no temporary file is left next to config.json" \
	test "$(ls -A "$DOCKER_CONFIG")" = config.json

expect_exit "pull with the stored login" 0 b images pull "$A/private/sh:v1"
cp "$T/stderr" "$T/out-pull"
expect_out "the image is listed" "$A/private/sh:v1" \
	sh -c "'$BUILD/berth' --address '$T/state/berth.sock' images ls -q | grep -F '$A/private/sh:v1'"
expect_contains "the registry saw the pull, authenticated" "$T/logs/reg-a.log" "alice"
# A push takes the same login, with a token or Basic for pull and push.
check "push with the stored login" \
	sh -c "'$BUILD/berth' --address '$T/state/berth.sock' push '$A/private/sh:v1' \
		'$A/private/copy:v2' | grep -q '^pushed $A/private/copy:v2@sha256:'"
check "the registry has the pushed tag, read with skopeo's own login" \
	sh -c "timeout 60 skopeo inspect --raw --creds 'alice:$PW' --cert-dir '$T/certs-a' \
		docker://$A/private/copy:v2 | grep -q schemaVersion"

expect_exit "a credential helper is reported as not supported" 5 \
	sh -c 'echo x | "$0" --address "$1" login -u a --password-stdin helped.example.com' \
	"$BUILD/berth" "$T/state/berth.sock"
expect_contains "the error names the helper" "$T/stderr" "docker-credential-secretservice"

# On a terminal, login asks for what it lacks, the password without echo.
# (The password is written once echo is off: what is typed ahead is echoed by the terminal.)
{ sleep 0.5; printf 'alice\n'; sleep 1.5; printf '%s\n' "$PW"; } | timeout 30 script -qec \
	"'$BUILD/berth' --address '$T/state/berth.sock' login '$A'" /dev/null >"$T/out-tty" 2>&1
check "on a terminal, login asks for the user name and the password" \
	grep -q "Login Succeeded" "$T/out-tty"
check "the password typed at the prompt is not echoed" \
	sh -c "grep -q 'Password:' '$T/out-tty' && ! grep -qF -- '$PW' '$T/out-tty'"

expect_out "logout removes the entry" "Removing login credentials for $A" b logout "$A"
check "config.json no longer holds it, and keeps the rest" \
	jq -e --arg r "$A" '(.auths | has($r) | not) and .auths["other.example.com"].auth == "eDp5"' \
	"$DOCKER_CONFIG/config.json"
expect_exit "after logout the pull is refused again" 8 b images pull "$A/private/sh:v1"
expect_exit "after logout a push is refused too (PERMISSION_DENIED)" 8 \
	b push "$A/private/sh:v1" "$A/private/copy:v3"
expect_out "images logout is logout: nothing left to remove" "Not logged in to $A" \
	b images logout "$A"

# --- TLS -----------------------------------------------------------------------------------
expect_exit "a registry with an unknown CA fails (UNAVAILABLE)" 6 \
	b images pull "localhost:$PA/private/sh:v1"
expect_contains "the error says the certificate is not trusted" "$T/stderr" \
	"TLS certificate is not trusted"
expect_contains "the error names the URL" "$T/stderr" "https://localhost:$PA/v2/private/sh/manifests/v1"
expect_contains "the error hints at ca_file" "$T/stderr" "ca_file"

expect_exit "mutual TLS without a client certificate is refused" 6 \
	b images pull "localhost:$PB/upstream-only/sh:v1"
expect_contains "the error says the TLS connection failed" "$T/stderr" "TLS connection failed"
expect_contains "the error hints at client_cert" "$T/stderr" "client_cert"

# --- mirrors -------------------------------------------------------------------------------
expect_exit "mutual TLS with the client certificate works (the mirrors lack the image)" 0 \
	b images pull "$B/upstream-only/sh:v1"
check "the mirror was asked first and answered 404" \
	grep -qE '"GET /v2/upstream-only/sh/manifests/v1\?ns=127.0.0.1(:|%3A)'"$PB"' HTTP/1.1" 404' "$T/logs/reg-m.log"
check "the registry itself served the manifest" \
	grep -q '"GET /v2/upstream-only/sh/manifests/v1 HTTP/[0-9.]*" 200' "$T/logs/reg-b.log"

expect_exit "pull through the mirror (the first mirror is down)" 0 b images pull "$B/mirrored/sh:v1"
check "the mirror served the manifest" \
	grep -qE '"GET /v2/mirrored/sh/manifests/v1\?ns=[^ ]* HTTP/1.1" 200' "$T/logs/reg-m.log"
check "the mirror served the layers" \
	grep -qE '"GET /v2/mirrored/sh/blobs/sha256:[0-9a-f]{64}\?ns=[^ ]* HTTP/1.1" (200|307)' "$T/logs/reg-m.log"
check "the registry itself served nothing of that image" \
	sh -c "! grep -q 'GET /v2/mirrored/' '$T/logs/reg-b.log'"

# --- secrets -------------------------------------------------------------------------------
check "the password is in no daemon log" sh -c "! grep -rqF -- '$PW' '$T'/logs/*d.log"
check "the auth string is in no daemon log" sh -c "! grep -rqF -- '$want_auth' '$T'/logs/*d.log"
check "the password is in no output of the CLI" \
	sh -c "! cat '$T'/out-* | grep -qF -- '$PW'"
check "the wrong password is in no log or output either" \
	sh -c "! grep -rqF -- wrong-password '$T'/logs/*d.log '$T'/out-*"

it_summary
