#!/usr/bin/env bash
# Build the restic the offsite-copy tests and benchmark run (roles/convex_backup), once per version.
#
# Debian 12's restic is 0.14 (no exit code 10 for "no repository", no 12 for a wrong password);
# the Mac runs Homebrew's. So the tests build the same release as Homebrew's formula from the
# github.com/restic/restic module on the Go module proxy, pinned in tests/restic/go.mod (go.sum
# there is committed: every download is verified, -mod=readonly).
# The binary is cached by version outside the work tree, so a second `make setup` builds nothing.
#
#   scripts/build-restic.sh          build if not cached; print the binary's path
#   scripts/build-restic.sh --path   print where the binary is (or will be); build nothing
#   scripts/build-restic.sh --with-sshd   also install Debian's openssh-server if sshd is missing
#                                    (the SFTP tests start their own sshd on loopback; none is enabled)
#
# Cache folder: $JOELCLAW_K8S_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/joelclaw-macmini
# (the same folder as scripts/build-kube-apiserver.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODDIR="$ROOT/tests/restic"
CACHE="${JOELCLAW_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/joelclaw-macmini}"

VERSION="$(awk '$1 == "github.com/restic/restic" && $2 ~ /^v[0-9]/ {print $2}' "$MODDIR/go.mod")"
if [ -z "$VERSION" ]; then
  echo "build-restic.sh: no github.com/restic/restic requirement in $MODDIR/go.mod" >&2
  exit 1
fi

# As restic's build.go does at that tag (restic/restic v0.19.1, build.go: DefaultBuildTags
# "selfupdate disable_grpc_modules", ldflags -s -w -X main.version, CGO off), which is how
# Homebrew's formula builds it (`go run build.go`).
ldflags="-s -w -X main.version=${VERSION#v}"
tags="selfupdate disable_grpc_modules"

KEY="$(cat "$MODDIR/go.mod" "$MODDIR/go.sum" - <<<"$ldflags $tags" | sha256sum | cut -c1-12)"
BIN="$CACHE/restic-$VERSION-$KEY"

if [ "${1:-}" = "--with-sshd" ] && [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-restic.sh: /usr/sbin/sshd is missing; run as root to apt-get install openssh-server" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq openssh-server >/dev/null
fi

if [ "${1:-}" = "--path" ]; then
  echo "$BIN"
  exit 0
fi

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-restic.sh: needs Go (1.25.8 or newer) and the Go module proxy" >&2
  exit 1
fi

mkdir -p "$CACHE"
tmp="$(mktemp "$CACHE/.restic.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "building restic $VERSION from the Go module proxy" >&2
start=$SECONDS
(
  cd "$MODDIR"
  GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" github.com/restic/restic/cmd/restic
)
chmod 0755 "$tmp"
mv -f "$tmp" "$BIN"
trap - EXIT
echo "built $BIN in $((SECONDS - start)) s" >&2
echo "$BIN"
