#!/usr/bin/env bash
# Build -- once per source change -- the crashfs FUSE filesystem used by the power-cut test
# (e2e/test_power_cut.py), from its Go module (github.com/hanwen/go-fuse/v2, pure Go: no
# libfuse, no fusermount). Nothing is written inside the repository: the binary lives under
#   ${STRATOS_CRASHFS_CACHE:-$HOME/.cache/stratos-mesh/crashfs}/<hash of the sources>/crashfs
# The last line on stdout is the binary's path; progress and errors go to stderr.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_MIN_MINOR=22
die() { printf 'crashfs: ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 \
  || die "Go is not installed or not on PATH; install Go 1.${GO_MIN_MINOR} or newer to build crashfs."
export GOTOOLCHAIN=local GOWORK=off GO111MODULE=on CGO_ENABLED=0
export GOFLAGS="-p=${STRATOS_TOOLS_JOBS:-1} -buildvcs=false"
[[ "$(go env GOVERSION)" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= GO_MIN_MINOR )) \
  || die "Go 1.${GO_MIN_MINOR} or newer is needed to build crashfs, found '$(go env GOVERSION)'."

hash="$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-16)"
out="${STRATOS_CRASHFS_CACHE:-$HOME/.cache/stratos-mesh/crashfs}/$hash"
mkdir -p "$out"
if command -v flock >/dev/null 2>&1; then  # two test runs starting together build once
  exec 9>"$out/.lock"
  flock 9
fi
if [[ ! -x "$out/crashfs" ]]; then
  printf 'crashfs: building into %s ...\n' "$out" >&2
  (cd "$SRC" && nice -n "${STRATOS_TOOLS_NICE:-19}" go build -mod=readonly -trimpath \
     -o "$out/crashfs.new" .) >"$out/build.log" 2>&1 \
    || { tail -n 30 "$out/build.log" >&2; die "building crashfs failed; full log: $out/build.log"; }
  mv -f "$out/crashfs.new" "$out/crashfs"
fi
echo "$out/crashfs"
