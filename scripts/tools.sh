#!/usr/bin/env bash
# scripts/tools.sh — the pinned tools and servers the project builds from
# source, and the one function that installs them. scripts/test.sh sources it;
# `make bench` runs it to get MinIO:
#
#   bash scripts/tools.sh minio         # prints the path of the pinned MinIO,
#                                       # building it first if it is not cached
#   bash scripts/tools.sh staticcheck | fake-gcs-server | azurite
#
# Tools are built once into $TOOLS_DIR (default: $(go env GOCACHE)/treeoflife-tools,
# or TOL_TOOLS_DIR) and reused afterwards. Progress goes to stderr; only the
# path goes to stdout.

# --- pinned tool versions ---------------------------------------------------
# staticcheck 2026.x; its go.mod needs Go >= 1.26.0 to build (the tool, not
# this module).
STATICCHECK_VERSION=v0.8.2
# MinIO publishes RELEASE.* tags, which are not semantic versions, so the Go
# module proxy serves it only as pseudo-versions: this one is the commit of
# 2026-02-12 (the last on its default branch). Its go.mod has no replace
# directives, so `go install github.com/minio/minio@VERSION` builds it from the
# proxy; install_tool falls back to building inside the downloaded module if a
# future pin has them. Builds in ~3-6 minutes on 2 cores.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
FAKE_GCS_SERVER_VERSION=v1.56.1
# Azurite, the Azure Storage emulator, from the npm registry. 3.35.0's
# package.json accepts the machine's Node.js 20; 3.36.0 asks for Node.js >= 21
# and 3.37.0 for >= 22.
AZURITE_VERSION=3.35.0

TOOLS_DIR=${TOL_TOOLS_DIR:-"$(go env GOCACHE)/treeoflife-tools"}

# install_tool NAME PACKAGE VERSION: make $TOOLS_DIR/NAME-VERSION/NAME exist
# and print its path on stdout.
install_tool() {
	local name=$1 pkg=$2 version=$3
	local dir="$TOOLS_DIR/$name-$version"
	local bin="$dir/$name"
	if [ -x "$bin" ]; then
		echo "$name $version: cached at $bin" >&2
		echo "$bin"
		return
	fi
	echo "$name $version: building $pkg@$version ..." >&2
	local t0=$SECONDS
	local stage work status=0
	mkdir -p "$TOOLS_DIR"
	stage=$(mktemp -d "$TOOLS_DIR/.build-$name.XXXXXX")
	# An empty directory to run go in, outside this module, so that its
	# go.mod plays no part.
	work=$(mktemp -d "${TMPDIR:-/tmp}/treeoflife-tools.XXXXXX")
	_install_tool_build "$name" "$pkg" "$version" "$stage" "$work" || status=$?
	rm -rf "$work"
	if [ "$status" -ne 0 ]; then
		rm -rf "$stage"
		echo "$name $version: build failed" >&2
		return "$status"
	fi
	mkdir -p "$dir"
	mv -f "$stage/$name" "$bin"
	rm -rf "$stage"
	echo "$name $version: built in $((SECONDS - t0))s" >&2
	echo "$bin"
}

_install_tool_build() {
	local name=$1 pkg=$2 version=$3 stage=$4 work=$5
	# Tools are static binaries; GOFLAGS from the caller (e.g. -mod=vendor)
	# must not leak into a build of another module.
	if (cd "$work" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$stage" go install "$pkg@$version") >&2; then
		return 0
	fi
	# `go install pkg@version` refuses modules whose go.mod has replace
	# directives. Build inside the module as downloaded from the proxy
	# instead, where its go.mod (replaces included) applies.
	echo "$name: go install failed; building inside the downloaded module" >&2
	local mod=${pkg%%/cmd/*} moddir
	moddir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$mod@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$moddir" ] || { echo "$name: go mod download $mod@$version failed" >&2; return 1; }
	(cd "$moddir" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" go build -o "$stage/$name" "$pkg") >&2
}

install_staticcheck() { install_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"; }
install_minio() { install_tool minio github.com/minio/minio "$MINIO_VERSION"; }
install_fake_gcs_server() { install_tool fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION"; }

# install_azurite: make $TOOLS_DIR/azurite-VERSION hold the pinned Azurite,
# installed with npm (once, then cached like the Go tools), and print the path
# of its azurite-blob on stdout. Without npm it says so and fails.
install_azurite() {
	local version=$AZURITE_VERSION
	local dir="$TOOLS_DIR/azurite-$version"
	local bin="$dir/node_modules/.bin/azurite-blob"
	if [ -x "$bin" ]; then
		echo "azurite $version: cached at $bin" >&2
		echo "$bin"
		return
	fi
	if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
		echo "azurite $version: npm (and Node.js) not found; cannot install the Azure Storage emulator" >&2
		return 1
	fi
	echo "azurite $version: npm install azurite@$version ..." >&2
	local t0=$SECONDS stage
	mkdir -p "$TOOLS_DIR"
	stage=$(mktemp -d "$TOOLS_DIR/.build-azurite.XXXXXX")
	# --prefix installs into stage/node_modules, outside any package.json of
	# the caller's; the bin links are relative, so the directory can move.
	if ! npm install --prefix "$stage" --no-audit --no-fund --loglevel=error "azurite@$version" >&2; then
		rm -rf "$stage"
		echo "azurite $version: npm install failed" >&2
		return 1
	fi
	rm -rf "$dir"
	mv "$stage" "$dir"
	echo "azurite $version: installed in $((SECONDS - t0))s" >&2
	echo "$bin"
}

# install_chromium: print the path of Chromium, for the dashboard's browser
# tests (TOL_CHROMIUM). When /usr/bin/chromium is missing and we are root
# with apt-get, install Debian's chromium package first: the distribution's
# version is the pin, and it is printed. Prints nothing if there is none
# (the tests then skip, or fail under TOL_REQUIRE_INTEGRATION=1).
install_chromium() {
	if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "chromium: installing Debian's chromium package ..." >&2
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 ||
			echo "chromium: apt-get install failed" >&2
	fi
	if [ -x /usr/bin/chromium ]; then
		echo "chromium: $(dpkg-query -W -f '${Version}' chromium 2>/dev/null || /usr/bin/chromium --version 2>/dev/null) at /usr/bin/chromium" >&2
		echo /usr/bin/chromium
	fi
	return 0
}

# Run as a program rather than sourced: install the named tool.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case "${1:-}" in
	minio) install_minio ;;
	staticcheck) install_staticcheck ;;
	fake-gcs-server) install_fake_gcs_server ;;
	azurite) install_azurite ;;
	chromium) install_chromium ;;
	*)
		echo "usage: bash scripts/tools.sh minio | staticcheck | fake-gcs-server | azurite | chromium" >&2
		exit 2
		;;
	esac
fi
