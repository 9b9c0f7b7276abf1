#!/bin/sh
# Builds the Go interop harness (winrm-client/main.go) against Debian's masterzen/winrm source
# (golang-github-masterzen-winrm-dev, under /usr/share/gocode) to dist/test/go-winrm-client.
# GOPATH mode and GOPROXY=off: the build never touches the network, it only sees Debian's sources.
# The build cache lives in node_modules/.cache/go (ignored), and nothing is rebuilt while the
# binary is newer than main.go.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
src="$root/test/interop/go/winrm-client"
out="$root/dist/test/go-winrm-client"
cache="$root/node_modules/.cache/go"
if [ -x "$out" ] && [ -z "$(find "$src/main.go" -newer "$out")" ]; then exit 0; fi
command -v go >/dev/null 2>&1 || { echo "test/interop/go/build.sh: no go toolchain (run test/setup.sh as root)" >&2; exit 1; }
mkdir -p "$cache/gopath" "$cache/build" "$(dirname "$out")"
# CGO_ENABLED=0: a static binary, and no C compiler needed. GOFLAGS/GOENV cleared so that a
# developer's own Go settings cannot switch modules or the proxy back on.
cd "$src"
env GOPATH="$cache/gopath:/usr/share/gocode" GOCACHE="$cache/build" GO111MODULE=off GOPROXY=off \
  GOFLAGS= GOENV=off CGO_ENABLED=0 go build -o "$out.tmp" .
mv -f "$out.tmp" "$out"
