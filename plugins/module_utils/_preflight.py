# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Checks the converge needs on the Mac, as pure functions over what the macOS CLIs printed.

The macos_preflight module runs the CLIs; these parse their output and decide ok / warn / fail,
each with the value found and the fix. Output shapes, and where they were read:
  - sw_vers(1): `sw_vers -productVersion` prints the version alone ("15.5").
  - sysctl(8): `sysctl -n hw.optional.arm64` prints the value alone: 1 on Apple silicon; an Intel
    kernel has no such OID and sysctl exits non-zero (guessed: no Intel Mac was read).
  - fdesetup(8): `fdesetup status` prints "FileVault is On." or "FileVault is Off.", then a progress
    line while encrypting or decrypting.
  - defaults(1): `defaults read <domain> <key>` prints the value, or exits 1 when the pair does not exist.
  - pmset(1): `pmset -g` lists settings one per line, "autorestart <0|1>" among them (restart after a
    power failure).
  - ipnstate.Status of `tailscale status --json` (github:tailscale/tailscale ipn/ipnstate/ipnstate.go at
    de9ec7ee25627e0e518f53c710a3fc3d947c86c1): BackendState is one of NoState, NeedsLogin,
    NeedsMachineAuth, Stopped, Starting, Running (ipn/backend.go); Self.DNSName ends with a dot;
    CertDomains lists the names control provisions certificates for (empty: HTTPS off).
"""
from __future__ import absolute_import, annotations, division, print_function

import re

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_health import FAIL, OK, WARN, Probe, worst
from ansible_collections.joelclaw.macmini.plugins.module_utils._tailscale_serve import (
    CAP_FUNNEL, CAP_HTTPS, HTTPS_HINT, POLICY_HINT, allowed_funnel_ports, node_info)

__all__ = ["FAIL", "OK", "WARN", "Probe", "worst"]

GIB = 1024 ** 3
# colima start --root-disk defaults to 20 GiB next to --disk (abiosoft/colima cmd/start.go, v0.10.3).
COLIMA_ROOT_DISK_GIB = 20
_UNITS = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def parse_version(text):
    """(major, minor, patch) from "15.5", "v1.12.11", "0.10.3"; None when there is no version."""
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def version_text(version):
    return ".".join(str(part) for part in version)


def parse_quantity(text):
    """Bytes of a Kubernetes quantity ("5Gi", "500M", "1073741824"); ValueError for anything else."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T)?\s*$", str(text))
    if not match:
        raise ValueError("%r is not a storage size like 5Gi or 500Mi" % (text,))
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


# ---------------------------------------------------------------------------- the machine
def check_macos(product_version, minimum):
    if product_version is None:
        return Probe("macos", FAIL, None, "sw_vers not found: this host is not macOS; the collection converges a Mac")
    found = parse_version(product_version)
    if found is None:
        return Probe("macos", FAIL, product_version.strip(), "sw_vers -productVersion printed no version")
    if found < minimum:
        return Probe("macos", FAIL, product_version.strip(),
                     "macOS %s or later is needed (Colima's vz VM type); update macOS in System Settings > General > "
                     "Software Update" % version_text(minimum))
    return Probe("macos", OK, product_version.strip())


def check_apple_silicon(arm64_value):
    if arm64_value is not None and arm64_value.strip() == "1":
        return Probe("apple_silicon", OK, "arm64")
    return Probe("apple_silicon", FAIL, "not arm64" if arm64_value is not None else "unknown",
                 "sysctl hw.optional.arm64 is not 1: the stack runs arm64 images in a vz VM and needs an Apple "
                 "silicon Mac")


def check_disk(path, free_bytes, vm_disk_gib, pvc_bytes, backup_copies):
    """fail below what must fit for sure (the PVC and its backups); warn below the VM disk's full size."""
    backups = pvc_bytes * backup_copies
    needed = pvc_bytes + backups
    full = (vm_disk_gib + COLIMA_ROOT_DISK_GIB) * GIB + backups
    value = "%.1f GiB free at %s" % (free_bytes / float(GIB), path)
    parts = "VM disk %d+%d GiB, PVC %.1f GiB, %d backups up to %.1f GiB" % (
        vm_disk_gib, COLIMA_ROOT_DISK_GIB, pvc_bytes / float(GIB), backup_copies, backups / float(GIB))
    if free_bytes < needed:
        return Probe("disk", FAIL, value, "the PVC and its backups need %.1f GiB (%s): free space, or lower "
                     "convex_backend_storage_size / convex_backup_keep_daily / convex_backup_keep_weekly"
                     % (needed / float(GIB), parts))
    if free_bytes < full:
        return Probe("disk", WARN, value, "the VM disk can grow to %.1f GiB in all (%s); it is sparse, so this "
                     "only bites as data grows: free space or lower colima_talos_disk" % (full / float(GIB), parts))
    return Probe("disk", OK, value, parts)


# ---------------------------------------------------------------------------- tools
def check_homebrew(version_output, prefix):
    if version_output is None:
        return Probe("homebrew", FAIL, None, "brew not found: install Homebrew (https://brew.sh), then re-run")
    first = (version_output.strip().splitlines() or [""])[0]
    return Probe("homebrew", OK, first + (" at %s" % prefix if prefix else ""))


def check_python(purpose, path, version_output, minimum):
    name = "python " + purpose
    if version_output is None:
        return Probe(name, FAIL, path, "%s does not run: install Python %s or later (brew install python@3.13) "
                     "and point the variable at it" % (path, version_text(minimum)))
    found = parse_version(version_output.replace("Python", ""))
    if found is None or found < minimum:
        return Probe(name, FAIL, "%s is %s" % (path, version_output.strip()),
                     "%s needs Python %s or later: brew install python@3.13, or run scripts/find-python"
                     % (purpose, version_text(minimum)))
    return Probe(name, OK, "%s (Python %s)" % (path, version_text(found)))


def check_installed_tool(name, version, minimum, unparsed_hint, too_old_hint):
    """A tool colima_talos installs with Homebrew: fine when missing, a warning when its version cannot be read,
    a failure when older than minimum. too_old_hint has one %s for the minimum version."""
    if version is None:
        return Probe(name, OK, "not installed", "colima_talos installs it with Homebrew")
    found = parse_version(version)
    if found is None:
        return Probe(name, WARN, version, unparsed_hint)
    if found < minimum:
        return Probe(name, FAIL, version, too_old_hint % version_text(minimum))
    return Probe(name, OK, version)


def check_talosctl(tag, minimum):
    return check_installed_tool("talosctl", tag, minimum,
                                "talosctl version --client printed no Tag; check `talosctl version --client`",
                                "talosctl %s or later is needed (`cluster create docker`): brew upgrade talosctl")


def check_colima(version, minimum):
    return check_installed_tool("colima", version, minimum,
                                "a build from a commit: colima_profile treats it as newer than any release",
                                "Colima %s or later is needed (`colima status --json`): brew upgrade colima")


# ---------------------------------------------------------------------------- Tailscale
def check_tailscale(status, error, hostname, need_https, funnel_ports):
    """Probes for tailscaled: running, the MagicDNS name, HTTPS certificates, Funnel. status is the parsed JSON."""
    if status is None:
        return [Probe("tailscale", FAIL, None, error)]
    info = node_info(status)
    state = info["backend_state"]
    if state != "Running":
        fix = {"NeedsLogin": "log in: open the Tailscale app (or run `tailscale up`)",
               "NeedsMachineAuth": "approve this machine in the admin console (Machines)",
               "Stopped": "connect: `tailscale up`, or switch Tailscale on in the menu bar"}.get(
                   state, "start Tailscale and log in, then re-run")
        return [Probe("tailscale", FAIL, state or "NoState", fix)]
    probes = [Probe("tailscale", OK, "Running")]
    if info["dns_name"] != hostname.lower():
        probes.append(Probe("magicdns_name", FAIL, info["dns_name"] or None,
                            "convex_tailnet_hostname is %r: set it to %r (tailscale status --json: .Self.DNSName)"
                            % (hostname, info["dns_name"])))
    else:
        probes.append(Probe("magicdns_name", OK, info["dns_name"]))
    certs = CAP_HTTPS in info["caps"] or bool(status.get("CertDomains"))
    if certs:
        probes.append(Probe("https_certs", OK, "enabled"))
    else:
        probes.append(Probe("https_certs", FAIL if need_https else WARN, "disabled", HTTPS_HINT))
    if funnel_ports:
        probes.append(check_funnel(info["caps"], funnel_ports))
    return probes


def check_funnel(caps, ports):
    wanted = ", ".join(str(p) for p in sorted(ports))
    if CAP_FUNNEL not in caps:
        return Probe("funnel", FAIL, "not permitted", "endpoints with reach: funnel use ports %s; " % wanted + POLICY_HINT)
    allowed = allowed_funnel_ports(caps)
    if allowed is not None:
        refused = sorted(p for p in ports if p not in allowed)
        if refused:
            return Probe("funnel", FAIL, "ports %s allowed" % (", ".join(str(p) for p in sorted(allowed)) or "none"),
                         "the tailnet policy does not allow Funnel on %s: widen the funnel-ports attribute or move "
                         "the endpoint to an allowed port" % ", ".join(str(p) for p in refused))
    return Probe("funnel", OK, "ports %s" % wanted)


# ---------------------------------------------------------------------------- startup without a person
def parse_filevault(output):
    """'on', 'off' or None (fdesetup status: "FileVault is On." / "FileVault is Off.")."""
    match = re.search(r"FileVault is (On|Off)\b", output or "")
    return match.group(1).lower() if match else None


def parse_autorestart(output):
    """1 / 0 from `pmset -g` ("autorestart 1"), None when the line is absent."""
    match = re.search(r"^\s*autorestart\s+(\d+)", output or "", re.MULTILINE)
    return int(match.group(1)) if match else None


# Tailscale variants as _tailscale_access.assess names them (docs/power-cut.md "Caddy"): which connect before a login.
TAILSCALE_VARIANTS = {
    "open-source": "open-source tailscaled (LaunchDaemon, connects at boot)",
    "app-store": "Mac App Store app (connects only in a user session)",
    "standalone": "standalone app (before login: guessed, check on the Mac)",
}


def check_power_cut(filevault, auto_login_user, autorestart, login_agents, launch_daemons=(), tailscale_variant=None):
    """What comes back by itself after a power cut, given the settings in force (docs/power-cut.md).

    login_agents: the components that run as LaunchAgents (start at a login); launch_daemons: those that run as
    LaunchDaemons (start at boot, once the data volume is mounted: FileVault unlocked). tailscale_variant: one of
    TAILSCALE_VARIANTS or None (unknown); the App Store app connects only inside a session, so with it nothing that
    needs the tailnet (Caddy's certificates, Funnel) works before a login even when the rest are daemons.
    """
    probes = []
    if autorestart == 1:
        probes.append(Probe("restart_after_power_cut", OK, "on"))
    else:
        probes.append(Probe("restart_after_power_cut", WARN, "off" if autorestart == 0 else "unknown",
                            "the Mac stays off after a power failure: sudo pmset -a autorestart 1 (System Settings > "
                            "Energy > Start up automatically after a power failure)"))
    probes.append(Probe("filevault", OK if filevault == "off" else WARN, filevault or "unknown",
                        "" if filevault == "off" else "with FileVault on, the data volume stays locked after a boot "
                        "until someone types a password: at the Mac, or over ssh on macOS 26+ with Remote Login on"))
    needs_login = not auto_login_user and bool(login_agents)
    probes.append(Probe("auto_login", OK if auto_login_user or not needs_login else WARN, auto_login_user or "none",
                        "no user session starts by itself, and LaunchAgents start only in one" if needs_login else ""))
    if tailscale_variant in TAILSCALE_VARIANTS:
        probes.append(Probe("tailscale_variant", WARN if tailscale_variant == "app-store" and not auto_login_user
                            else OK, TAILSCALE_VARIANTS[tailscale_variant],
                            "Caddy's Tailscale certificates and Funnel wait for a login; the open-source tailscaled "
                            "(`tailscaled install-system-daemon`) connects at boot"
                            if tailscale_variant == "app-store" and not auto_login_user else ""))
    agents = ", ".join(login_agents)
    daemons = ", ".join(launch_daemons)
    at_boot = ("the LaunchDaemons start at boot without a login: %s" % daemons) if daemons else "no LaunchDaemon"
    tailnet_waits = tailscale_variant == "app-store" and not auto_login_user
    tail = "; the App Store Tailscale app connects only at a login" if tailnet_waits else ""
    if filevault == "on":
        then = ("%s start only at a login" % agents) if agents else "everything starts without a login"
        meaning = (WARN, "after a power cut nothing starts until someone unlocks FileVault (at the Mac, or `ssh` with a "
                   "password on macOS 26+); then %s, and %s%s" % (at_boot.replace("start at boot ", "start "), then, tail))
    elif filevault == "off" and auto_login_user:
        meaning = (OK, "after a power cut %s; macOS logs %s in and the LaunchAgents start: %s"
                   % (at_boot, auto_login_user, agents or "none"))
    elif filevault == "off" and agents:
        meaning = (WARN, "after a power cut %s; %s wait for someone to log in: keep them as daemons (launchd_domain: "
                   "system) or set an auto-login user (System Settings > Users & Groups > Automatically log in as)%s"
                   % (at_boot, agents, tail))
    elif filevault == "off":
        meaning = (WARN if tailnet_waits else OK, "after a power cut %s%s" % (at_boot, tail))
    else:
        meaning = (WARN, "FileVault state unknown (fdesetup status): cannot tell what comes back")
    combination = "FileVault %s, auto-login %s" % (filevault or "unknown", auto_login_user or "none")
    probes.append(Probe("power_cut", meaning[0], combination, meaning[1]))
    return probes


# ---------------------------------------------------------------------------- images and ports
def check_images(result):
    """Probe from a registered docker_image_available result."""
    if not result:
        return Probe("images", WARN, None, "not checked")
    missing = result.get("missing") or []
    if missing:
        return Probe("images", FAIL, "missing: " + ", ".join(missing),
                     "pick a convex_image_sha that has images (roles/convex_backend/README.md)")
    if result.get("failed"):
        return Probe("images", WARN, "not checked", "could not ask the registry: %s" % result.get("msg", "unknown error"))
    return Probe("images", OK, "%d pullable" % len(result.get("images") or []))


def check_port(entry, owner):
    """owner: None (nothing listens), or (command, pid) of the listener, or ('', None) when unknown."""
    name = "port %s:%d" % (entry["address"], entry["port"])
    purpose = entry["purpose"]
    if owner is None:
        return Probe(name, OK, "free", purpose)
    command, pid = owner
    if command and command in entry["owners"]:
        return Probe(name, OK, "ours (%s, pid %s)" % (command, pid), purpose)
    if not command:
        return Probe(name, WARN, "in use", "%s: something listens and lsof could not name it; check with "
                     "`sudo lsof -nP -iTCP:%d -sTCP:LISTEN`" % (purpose, entry["port"]))
    return Probe(name, FAIL, "in use by %s (pid %s)" % (command, pid),
                 "%s: stop %s or choose another port for it" % (purpose, command))


def parse_lsof(output):
    """(command, pid) of the first process in `lsof -F pc` output (lsof(8) OUTPUT FOR OTHER PROGRAMS)."""
    pid = command = None
    for line in (output or "").splitlines():
        if line.startswith("p") and pid is None:
            pid = line[1:]
        elif line.startswith("c") and command is None:
            command = line[1:]
    return (command, pid) if command else None


# ---------------------------------------------------------------------------- from the contract variables
# Who holds a port when it is already ours. Colima forwards a port the VM publishes with its default
# port forwarder, ssh (abiosoft/colima cmd/start.go --port-forwarder, v0.10.3), from Lima's host agent
# (limactl); which of the two lsof names as the listener is guessed (see docs/power-cut.md, what to check).
FORWARDER_OWNERS = ["ssh", "limactl"]
CADDY_OWNERS = ["caddy"]


def stack_ports(endpoints, local_ports, published_ports, bind_address):
    """(funnel ports, whether Tailscale certificates are needed, the ports to check) from the contract:
    convex_public_endpoints, the Caddy sites' local ports, convex_published_ports, convex_host_bind_address."""
    funnel, need_https, ports = [], False, []
    for name, endpoint in sorted((endpoints or {}).items()):
        need_https = need_https or endpoint.get("tls") == "tailscale"
        if endpoint.get("reach") == "funnel":
            funnel.append(int(endpoint["port"]))
            if name in local_ports:
                ports.append({"port": int(local_ports[name]), "address": "127.0.0.1", "owners": CADDY_OWNERS,
                              "purpose": "Caddy's local listener for %s (behind Funnel)" % name})
        else:
            ports.append({"port": int(endpoint["port"]), "address": "127.0.0.1", "owners": CADDY_OWNERS,
                          "purpose": "Caddy's %s site" % name})
    for name, entry in sorted((published_ports or {}).items()):
        ports.append({"port": int(entry["host_port"]), "address": bind_address, "owners": FORWARDER_OWNERS,
                      "purpose": "%s NodePort %s, forwarded from the Colima VM" % (name, entry.get("node_port"))})
    return sorted(set(funnel)), need_https, ports
