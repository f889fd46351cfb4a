#!/usr/bin/env bash
# Build the kube-apiserver the k8s role tests run against (tests/k8s), once per version.
#
# No registry ships a prebuilt kube-apiserver, so it is built from the k8s.io/kubernetes
# module on the Go module proxy, with the staging modules pinned in tests/k8s/apiserver/go.mod
# (go.sum there is committed: every download is verified, -mod=readonly).
# The binary is cached by version outside the work tree, so a second `make setup` builds
# nothing; Go's module and build caches are the user's own (go env GOMODCACHE GOCACHE).
#
#   scripts/build-kube-apiserver.sh          build if not cached; print the binary's path
#   scripts/build-kube-apiserver.sh --path   print where the binary is (or will be); build nothing
#
# Cache folder: $JOELCLAW_K8S_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/joelclaw-macmini.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODDIR="$ROOT/tests/k8s/apiserver"
CACHE="${JOELCLAW_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/joelclaw-macmini}"

# The one version pin is the k8s.io/kubernetes requirement in our go.mod.
VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v[0-9]/ {print $2}' "$MODDIR/go.mod")"
if [ -z "$VERSION" ]; then
  echo "build-kube-apiserver.sh: no k8s.io/kubernetes requirement in $MODDIR/go.mod" >&2
  exit 1
fi

# Version stamps as kubernetes's hack/lib/version.sh sets them (kubernetes/kubernetes,
# hack/lib/version.sh, kube::version::ldflags), so /version and the client see v1.35.x.
minor="$(cut -d. -f2 <<<"${VERSION#v}")"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
BUILD_FLAGS="CGO_ENABLED=0 -trimpath -ldflags $ldflags"

# Our go.mod, go.sum and the build flags decide the binary: a change to any of them gives a new
# cache entry instead of a stale binary.
KEY="$(cat "$MODDIR/go.mod" "$MODDIR/go.sum" - <<<"$BUILD_FLAGS" | sha256sum | cut -c1-12)"
BIN="$CACHE/kube-apiserver-$VERSION-$KEY"

if [ "${1:-}" = "--path" ]; then
  echo "$BIN"
  exit 0
fi

# The same minor as the cluster the roles converge: the contract's convex_kubernetes_version, which
# colima_talos_kubernetes_version (Talos) defaults to and the manifests are validated at.
TALOS_K8S="$(awk -F'"' '/^convex_kubernetes_version:/ {print $2}' "$ROOT/roles/contract/defaults/main.yml")"
if [ "$(cut -d. -f1,2 <<<"${VERSION#v}")" != "$(cut -d. -f1,2 <<<"$TALOS_K8S")" ]; then
  echo "build-kube-apiserver.sh: tests/k8s/apiserver/go.mod pins k8s.io/kubernetes $VERSION," \
    "but convex_kubernetes_version (roles/contract/defaults/main.yml) is ${TALOS_K8S:-missing}: move both to the same minor" >&2
  exit 1
fi

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-kube-apiserver.sh: needs Go (1.25 or newer) and the Go module proxy" >&2
  exit 1
fi

mkdir -p "$CACHE"
tmp="$(mktemp "$CACHE/.kube-apiserver.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "building kube-apiserver $VERSION from the Go module proxy (takes minutes on a cold cache)" >&2
start=$SECONDS
(
  cd "$MODDIR"
  GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -trimpath -ldflags "$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver
)
chmod 0755 "$tmp"
mv -f "$tmp" "$BIN"
trap - EXIT
echo "built $BIN in $((SECONDS - start)) s" >&2
echo "$BIN"
