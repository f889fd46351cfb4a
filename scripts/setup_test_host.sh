#!/usr/bin/env bash
# Prepare a Debian 12 machine to run the molecule scenarios:
#   podman + runc + debootstrap, a containers.conf podman can run with on these VMs,
#   and the local Debian bookworm systemd image (built once, then cached).
# No container registry is reachable, so the base image is bootstrapped from the
# apt mirror this machine already uses.
set -euo pipefail

IMAGE="${MOLECULE_IMAGE:-localhost/joelclaw-bookworm-systemd:3}"
CONF=/etc/containers/containers.conf
MARKER="# managed by joelclaw.macmini scripts/setup_test_host.sh"

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup_test_host.sh must run as root (it installs packages and configures podman)" >&2
    exit 1
  fi
}

install_packages() {
  local missing=()
  for cmd in podman runc debootstrap; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman runc debootstrap >/dev/null
}

configure_podman() {
  # crun fails on this VM's hybrid cgroup layout and the default 1048576 ulimits
  # are refused (no cap_sys_resource): runc + cgroupfs + lower ulimits work.
  if [ -f "$CONF" ] && grep -qF "$MARKER" "$CONF"; then
    return 0
  fi
  need_root
  mkdir -p "$(dirname "$CONF")"
  [ -f "$CONF" ] && cp "$CONF" "$CONF.orig.$(date +%s)"
  cat >"$CONF" <<TOML
$MARKER
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
TOML
}

apt_mirror() {
  # The Debian mirror this machine is configured with (deb822 or one-line format).
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_image() {
  if podman image exists "$IMAGE"; then
    echo "test image $IMAGE already present"
    return 0
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  echo "bootstrapping Debian bookworm into $work/rootfs"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$(apt_mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/rootfs" -c . | podman import - localhost/joelclaw-bookworm-base:1 >/dev/null
  podman build --pull=never -t "$IMAGE" -f "$(dirname "$0")/../molecule/Containerfile" "$work"
}

install_packages
configure_podman
build_image
