#!/usr/bin/env bash
# Builds the S3-compatible server the backup tests run against (gofakes3, from
# the Go module proxy, pinned) into ~/.cache/steward/bin, once. Prints its path.
#   scripts/s3-server.sh            build if missing, print the binary's path
#   scripts/s3-server.sh run ARGS   build if missing, then exec it with ARGS
set -euo pipefail
VERSION="${STEWARD_GOFAKES3_VERSION:-v1.2.0}"
BIN_DIR="${STEWARD_CACHE:-$HOME/.cache/steward}/bin"
BIN="$BIN_DIR/gofakes3-$VERSION"
if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { echo "s3-server: Go is needed to build gofakes3 (install golang)" >&2; exit 1; }
  mkdir -p "$BIN_DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "s3-server: building gofakes3 $VERSION" >&2
  GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "github.com/johannesboyne/gofakes3/cmd/gofakes3@$VERSION" >&2
  mv "$tmp/gofakes3" "$BIN"
fi
if [ "${1:-}" = run ]; then shift; exec "$BIN" "$@"; fi
echo "$BIN"
