#!/usr/bin/env bash
# Run by launchd (joelclaw.macmini.colima_talos) at login and every few minutes:
# start the Colima VM if it is down (recovering a Broken one), load the kernel modules the
# Talos node needs (br_netfilter for flannel; gone after every VM boot), then start the Talos
# node containers that are not running (dockerd restarts those with a restart policy itself;
# nodes made before the role set one stay exited after a VM restart).
# Usage: colima-talos-boot.sh <colima profile> <talos cluster name> <DOCKER_HOST> [kernel module...]
set -u
profile=${1:?colima profile}
cluster=${2:?talos cluster name}
export DOCKER_HOST=${3:?DOCKER_HOST of the colima profile}
shift 3

log() { printf '%s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*"; }

if ! colima status "$profile" >/dev/null 2>&1; then
  # `colima list` prints a table: PROFILE STATUS ARCH CPUS MEMORY DISK RUNTIME ADDRESS.
  status=$(colima list 2>/dev/null | awk -v p="$profile" 'NR > 1 && $1 == p { print $2 }')
  if [ -z "$status" ]; then
    log "colima profile $profile does not exist; run the colima_talos role to create it"
    exit 1
  fi
  if [ "$status" = "Broken" ]; then
    log "colima profile $profile is Broken; stopping it with --force"
    colima stop "$profile" --force || exit 1
  fi
  if [ "$status" != "Running" ]; then
    log "starting colima profile $profile (was $status)"
    colima start "$profile" || { log "colima start $profile failed"; exit 1; }
  fi
fi

# modprobe of a loaded module does nothing, so this is cheap on every run.
for module in "$@"; do
  colima ssh --profile "$profile" -- sudo modprobe "$module" \
    || log "loading kernel module $module in colima profile $profile failed"
done

# Controlplane before workers: names sort that way (<cluster>-controlplane-N < <cluster>-worker-N).
stopped=$(docker ps --all --filter "label=talos.cluster.name=$cluster" --format '{{.Names}} {{.State}}' \
  | awk '$2 != "running" { print $1 }' | sort)
for node in $stopped; do
  log "starting Talos node container $node"
  docker start "$node" >/dev/null || { log "docker start $node failed"; exit 1; }
done
exit 0
