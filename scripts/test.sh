#!/usr/bin/env bash
# scripts/test.sh — the project's one test command (`make test`, and CI).
#
# Needs only Go and network access to the Go module proxy (plus Debian's apt
# for a C compiler, which `go test -race` needs, if none is installed). It:
#   1. installs pinned versions of staticcheck, MinIO and fake-gcs-server into
#      a cache under the Go build cache (built once, reused afterwards; the
#      versions and the install function are in scripts/tools.sh, which
#      `make bench` shares);
#   2. checks formatting (gofmt), go vet, staticcheck;
#   3. starts MinIO (twice: two regions, for the tests of several backup
#      sinks) and fake-gcs-server on free loopback ports, each with its data
#      under a temporary directory, and waits until they are ready;
#   4. runs `go test -race` over the module with TOL_REQUIRE_INTEGRATION=1, so
#      that the S3 and GCS sink tests fail rather than skip if a server is
#      missing; then the bench module's vet, staticcheck and tests, if it exists (its S3
#      rows start a MinIO of their own from TOL_MINIO_BIN);
#   5. always stops the servers and removes the temporary directory, and
#      prints the servers' logs if anything failed.
# Azurite, the Azure Storage emulator, is installed (pinned, with npm) and
# started like the others; without npm the script says so and the Azure
# tests fail, as TOL_REQUIRE_INTEGRATION=1 asks.
# Steps 2 and 4 all run even when one fails, so that one run shows every
# failure; the script then exits 1 and names the steps that failed.
#
# Environment:
#   TOL_TOOLS_DIR   where tools are cached (default: $(go env GOCACHE)/treeoflife-tools)
#   TOL_TEST_FLAGS  extra flags for go test (e.g. "-run TestSink -v")
set -euo pipefail
shopt -s inherit_errexit # a failing command inside $(...) fails the script too

# Credentials for the throwaway MinIO; not secrets.
MINIO_USER=tolminio
MINIO_PASSWORD=tolminio-test-secret

cd "$(dirname "$0")/.."
ROOT=$PWD
# The pinned versions (STATICCHECK_VERSION, MINIO_VERSION, ...), TOOLS_DIR and
# install_tool, shared with `make bench`.
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
START=$SECONDS

section() { printf '\n==== %s ====\n' "$*"; }
elapsed() { printf '(%ds)\n' "$((SECONDS - ${1:-$START}))"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/treeoflife-test.XXXXXX")
PIDS=()
SERVER_LOGS=()

cleanup() {
	local status=$?
	set +e
	# Stop the servers we started (by pid): SIGTERM, up to 10s to exit, then
	# SIGKILL.
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$status" -ne 0 ]; then
		for log in "${SERVER_LOGS[@]}"; do
			if [ -s "$log" ]; then
				section "log: ${log#"$TMP"/} (last 100 lines)"
				tail -n 100 "$log"
			fi
		done
		section "FAILED after $((SECONDS - START))s"
	fi
	rm -rf "$TMP"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
section "environment"
go version
echo "module root: $ROOT"
echo "tool cache:  $TOOLS_DIR"
echo "temp dir:    $TMP"

RACE=-race
if [ "$(go env CGO_ENABLED)" != "1" ]; then
	# -race needs cgo and a C compiler.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "no C compiler: installing gcc from Debian for go test -race"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
	fi
	if [ "$(go env CGO_ENABLED)" != "1" ]; then
		echo "WARNING: cgo is unavailable (no C compiler); running tests WITHOUT the race detector"
		RACE=
	fi
fi

section "tools"
t0=$SECONDS
STATICCHECK=$(install_staticcheck)
FAKE_GCS_SERVER=$(install_fake_gcs_server)
MINIO=$(install_minio)
AZURITE=$(install_azurite) || AZURITE=
# Chromium for the dashboard's browser tests (dashboard/browser_test.go).
TOL_CHROMIUM=$(install_chromium) && export TOL_CHROMIUM
TESTENV="$TMP/testenv"
go build -o "$TESTENV" scripts/testenv.go
elapsed "$t0"

# Every check below runs even if an earlier one failed, so that one run shows
# every failure; the script fails at the end if any did.
FAILED=()

section "gofmt -l ."
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "these files need gofmt -w:"
	echo "$unformatted"
	FAILED+=("gofmt")
else
	echo ok
fi

section "go vet ./..."
if go vet ./...; then echo ok; else FAILED+=("go vet"); fi

section "staticcheck ./..."
"$STATICCHECK" -version
if "$STATICCHECK" ./...; then echo ok; else FAILED+=("staticcheck"); fi

# start_server NAME READY_PATH COMMAND...: start a server whose command line
# contains @PORT@ (and may contain @PORT2@), on fresh free ports, retrying
# with new ports if it does not come up (another process may have taken a
# port between our check and its bind). Sets PORT.
start_server() {
	local name=$1 ready=$2
	shift 2
	local log="$TMP/$name.log" attempt pid ports p1 p2 args a
	SERVER_LOGS+=("$log")
	for attempt in 1 2 3; do
		ports=$("$TESTENV" freeport 2)
		p1=$(echo "$ports" | sed -n 1p)
		p2=$(echo "$ports" | sed -n 2p)
		args=()
		for a in "$@"; do
			a=${a//@PORT@/$p1}
			args+=("${a//@PORT2@/$p2}")
		done
		echo "starting $name on 127.0.0.1:$p1 (attempt $attempt)"
		echo "--- attempt $attempt: ${args[*]}" >>"$log"
		"${args[@]}" >>"$log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		if "$TESTENV" wait-pid "$pid" "http://127.0.0.1:$p1$ready" 60s; then
			PORT=$p1
			echo "$name is ready (pid $pid)"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "$name did not start; see its log below"
	return 1
}

section "servers"
mkdir -p "$TMP/minio-data" "$TMP/gcs-data"

# MINIO_KMS_SECRET_KEY gives MinIO a static key, so that SSE-S3 works
# (TOL_S3_SSE=1 turns on the sink's SSE test).
MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD \
	MINIO_KMS_SECRET_KEY="tol-test-key:$(head -c 32 /dev/urandom | base64)" \
	MINIO_BROWSER=off MINIO_UPDATE=off \
	start_server minio /minio/health/ready \
	"$MINIO" server --quiet --address 127.0.0.1:@PORT@ --console-address 127.0.0.1:@PORT2@ "$TMP/minio-data"
MINIO_PORT=$PORT

# A second MinIO, with data of its own: a second region for the tests of
# several backup sinks (TOL_S3_ENDPOINT2).
mkdir -p "$TMP/minio2-data"
MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD \
	MINIO_BROWSER=off MINIO_UPDATE=off \
	start_server minio2 /minio/health/ready \
	"$MINIO" server --quiet --address 127.0.0.1:@PORT@ --console-address 127.0.0.1:@PORT2@ "$TMP/minio2-data"
export TOL_S3_ENDPOINT2="http://127.0.0.1:$PORT"

start_server fake-gcs-server /storage/v1/b \
	"$FAKE_GCS_SERVER" -scheme http -host 127.0.0.1 -port @PORT@ \
	-public-host 127.0.0.1:@PORT@ -external-url http://127.0.0.1:@PORT@ \
	-backend filesystem -filesystem-root "$TMP/gcs-data" -log-level warn
GCS_PORT=$PORT

# Azurite answers 400 or 403 to any request without a signature: any answer
# means it is up. Its access log is off (--silent); its data is under $TMP.
if [ -n "$AZURITE" ]; then
	mkdir -p "$TMP/azurite-data"
	TESTENV_READY_ANY_STATUS=1 start_server azurite / \
		"$AZURITE" --blobHost 127.0.0.1 --blobPort @PORT@ --location "$TMP/azurite-data" \
		--skipApiVersionCheck --disableTelemetry --silent
	# Azurite's well-known development account (devstoreaccount1).
	export TOL_AZURE_ENDPOINT="http://127.0.0.1:$PORT/devstoreaccount1"
else
	echo "WARNING: Azurite could not be installed (is npm missing?): the Azure Blob Storage tests will fail"
fi

# The tests create the buckets they use.
export TOL_S3_ENDPOINT="http://127.0.0.1:$MINIO_PORT"
export TOL_S3_BUCKET=tol-test
export TOL_MINIO_BIN=$MINIO
export TOL_S3_SSE=1
export AWS_ACCESS_KEY_ID=$MINIO_USER
export AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export TOL_GCS_ENDPOINT="http://127.0.0.1:$GCS_PORT"
export TOL_GCS_BUCKET=tol-test
export TOL_REQUIRE_INTEGRATION=1
# Keep the developer's own AWS/GCP configuration out of the tests.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN STORAGE_EMULATOR_HOST GOOGLE_APPLICATION_CREDENTIALS

section "go test $RACE -count=1 ./..."
t0=$SECONDS
# shellcheck disable=SC2086 # word splitting of the flags is intended
go test $RACE -count=1 ${TOL_TEST_FLAGS:-} ./... || FAILED+=("go test ./...")
elapsed "$t0"

if [ -f bench/go.mod ]; then
	section "bench module: go vet ./... && staticcheck ./... && go test -count=1 ./..."
	t0=$SECONDS
	# shellcheck disable=SC2086
	(cd bench && go vet ./... && "$STATICCHECK" ./... && go test -count=1 ${TOL_TEST_FLAGS:-} ./...) || FAILED+=("bench module")
	elapsed "$t0"
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
	section "failed: ${FAILED[*]}"
	exit 1
fi
section "PASS in $((SECONDS - START))s"
