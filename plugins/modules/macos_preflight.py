#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: macos_preflight
short_description: Check a Mac for everything the Convex converge needs, one line per check
version_added: 0.3.0
description:
  - Reads the Mac with its own CLIs (C(sw_vers), C(sysctl), C(fdesetup status), C(defaults read) of
    C(/Library/Preferences/com.apple.loginwindow), C(pmset -g), C(brew), C(talosctl), C(colima),
    C(tailscale status --json), C(lsof)) and returns one probe per check, each C(ok), C(warn) or C(fail)
    with the value found and the fix, in the shape of the P(joelclaw.macmini.convex_health#module) report.
  - Never fails because a check failed; the playbook decides what stops it (see C(playbooks/preflight.yml)).
    It fails only on bad input.
  - A missing tool is a probe, not an error; Homebrew, Python and Tailscale missing are C(fail), talosctl and
    Colima missing are C(ok) because the converge installs them.
author:
  - Joel Hooks (@joelhooks)
options:
  tailnet_hostname:
    description: The MagicDNS name the endpoints use (C(convex_tailnet_hostname)), without the final dot.
    type: str
    required: true
  need_https_certs:
    description:
      - Whether Tailscale HTTPS certificates must be on. Also true when an O(endpoints) entry has C(tls=tailscale).
    type: bool
    default: false
  funnel_ports:
    description: Public ports of the endpoints with C(reach=funnel); empty skips the Funnel check.
    type: list
    elements: int
    default: []
  tailscale_bin:
    description:
      - The C(tailscale) CLI. A bare name is looked up on E(PATH), then as the app's CLI
        C(/Applications/Tailscale.app/Contents/MacOS/Tailscale).
    type: str
    default: tailscale
  disk_path:
    description: Where the data lives (C(convex_state_dir)); the nearest existing parent is measured.
    type: path
    required: true
  vm_disk_gib:
    description: Colima's data disk in GiB (C(colima_talos_disk)); Colima's 20 GiB root disk is added.
    type: int
    default: 100
  pvc_size:
    description: The backend PVC as a Kubernetes quantity (C(convex_backend_storage_size)).
    type: str
    default: 5Gi
  backup_copies:
    description: How many backups are kept (C(convex_backup_keep_daily) + C(convex_backup_keep_weekly)); each is counted at the PVC's size.
    type: int
    default: 11
  min_macos:
    description: The oldest macOS accepted.
    type: str
    default: "13.0"
  min_talosctl:
    description: The oldest talosctl accepted when one is installed.
    type: str
    default: "1.12.0"
  min_colima:
    description: The oldest Colima accepted when one is installed.
    type: str
    default: "0.8.1"
  pythons:
    description: Interpreters the converge runs on the Mac, each checked for a minimum version.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The interpreter.
        type: path
        required: true
      min:
        description: The oldest version accepted.
        type: str
        required: true
      purpose:
        description: What uses it, shown in the report.
        type: str
        required: true
  ports:
    description: TCP ports the stack will listen on; each must be free or held by one of its O(ports[].owners).
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: The port.
        type: int
        required: true
      address:
        description: The address it is bound on; the check connects there.
        type: str
        default: 127.0.0.1
      purpose:
        description: Who binds it, shown in the report.
        type: str
        required: true
      owners:
        description: Process names (lsof's command) that mean the port is already ours.
        type: list
        elements: str
        default: []
  endpoints:
    description:
      - The public endpoints (C(convex_public_endpoints)). From them come the Funnel ports (O(funnel_ports)
        is added to them), whether HTTPS certificates are needed, and Caddy's ports to check.
    type: dict
    default: {}
  caddy_local_ports:
    description: Caddy's loopback port per funnel endpoint name (the C(local_port) of C(caddy_tailscale_sites)).
    type: dict
    default: {}
  published_ports:
    description: The NodePorts published on the Mac (C(convex_published_ports)), checked on O(bind_address).
    type: dict
    default: {}
  bind_address:
    description: Where the NodePorts are published (C(convex_host_bind_address)).
    type: str
    default: 127.0.0.1
  image_check:
    description: The registered result of P(joelclaw.macmini.docker_image_available#module) for the pinned images.
    type: dict
  login_agents:
    description: What runs as a LaunchAgent (starts at the user's login), named in the power-cut verdict.
    type: list
    elements: str
    default: []
  launch_daemons:
    description:
      - What runs as a LaunchDaemon (starts at boot without a login, once FileVault is unlocked), named in the
        power-cut verdict.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
notes:
  - macOS on Apple silicon; on any other host the first checks fail and say so.
  - What each combination of FileVault and auto-login means after a power cut is in C(docs/power-cut.md).
"""

EXAMPLES = r"""
- name: Check the Mac before any change.
  joelclaw.macmini.macos_preflight:
    tailnet_hostname: macmini.example-tailnet.ts.net
    funnel_ports: [443, 8443]
    disk_path: /Users/joel/.joelclaw
    vm_disk_gib: 100
    pvc_size: 5Gi
    backup_copies: 11
    ports:
      - {port: 3210, purpose: backend NodePort, owners: [limactl, ssh]}
  register: preflight
"""

RETURN = r"""
probes:
  description: One entry per check.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check.
      type: str
    status:
      description: V(ok), V(warn) or V(fail).
      type: str
    value:
      description: What was found.
      type: raw
    hint:
      description: The fix, or context.
      type: str
report:
  description: One line per probe, as the health report prints them.
  returned: always
  type: list
  elements: str
verdict:
  description: The worst status.
  returned: always
  type: str
  sample: warn
facts:
  description: What was read about startup without a person.
  returned: always
  type: dict
  sample: {filevault: "off", auto_login_user: joel, autorestart: 1}
"""

import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.joelclaw.macmini.plugins.module_utils import _colima
from ansible_collections.joelclaw.macmini.plugins.module_utils._tailscale_access import APP_BUNDLE, OSS_SOCKET, STANDALONE_PORT_LINK
from ansible_collections.joelclaw.macmini.plugins.module_utils import _preflight as pf
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_health import report_lines

TAILSCALE_APP_CLI = "/Applications/Tailscale.app/Contents/MacOS/Tailscale"
LOGINWINDOW = "/Library/Preferences/com.apple.loginwindow"


def tailscale_variant():
    """The Tailscale variant installed, found as tailscale_cert_access finds it (_tailscale_access), or None."""
    if os.path.lexists(STANDALONE_PORT_LINK):
        return "standalone"
    if os.path.exists(OSS_SOCKET):
        return "open-source"
    if os.path.isdir(APP_BUNDLE):
        return "app-store"
    return None


class Mac:
    def __init__(self, module):
        self.module = module

    def find(self, name, fallback_dirs=()):
        """An absolute path as given; else PATH (and the sbin dirs), then fallback_dirs (Homebrew off PATH)."""
        if os.path.isabs(name):
            return name if os.access(name, os.X_OK) else None
        found = self.module.get_bin_path(name)
        for directory in fallback_dirs:
            candidate = os.path.join(directory, name)
            if not found and os.access(candidate, os.X_OK):
                found = candidate
        return found

    def run(self, name, args, fallback_dirs=()):
        """stdout of `name args`, or None when the tool is absent or exits non-zero."""
        binary = self.find(name, fallback_dirs)
        if not binary:
            return None
        rc, out, _err = self.module.run_command([binary] + args, environ_update={"LC_ALL": "C"})
        return out if rc == 0 else None

    def tailscale_status(self, tailscale_bin):
        binary = self.find(tailscale_bin, [os.path.dirname(TAILSCALE_APP_CLI)] if tailscale_bin == "tailscale" else [])
        if not binary and tailscale_bin == "tailscale":
            binary = self.find(TAILSCALE_APP_CLI)
        if not binary:
            return None, ("%s not found: install Tailscale (the Mac App Store or standalone app, or `brew install "
                          "tailscale`), log in, then re-run" % tailscale_bin)
        rc, out, err = self.module.run_command([binary, "status", "--json"])
        try:
            status = json.loads(out) if out.strip() else None
        except ValueError:
            status = None
        if not isinstance(status, dict):
            return None, "`%s status --json` gave no status (exit %d): %s; is tailscaled running?" % (
                binary, rc, (err or out).strip()[:200] or "no output")
        return status, None


def free_bytes(path):
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    stats = os.statvfs(path or "/")
    return path, stats.f_bavail * stats.f_frsize


def listener(entry, mac):
    """None when nothing accepts on the port, else (command, pid) from lsof, ('', None) when unnamed."""
    try:
        with socket.create_connection((entry["address"], entry["port"]), timeout=2):
            pass
    except OSError:
        return None
    found = pf.parse_lsof(mac.run("lsof", ["-nP", "-iTCP:%d" % entry["port"], "-sTCP:LISTEN", "-Fpc"]))
    return found or ("", None)


def versions(module):
    wanted = {}
    for option in ("min_macos", "min_talosctl", "min_colima"):
        wanted[option] = pf.parse_version(module.params[option])
        if wanted[option] is None:
            module.fail_json(msg="%s=%r is not a version like 1.12.0" % (option, module.params[option]))
    return wanted


def validate(module):
    params = module.params
    if not params["tailnet_hostname"].strip() or params["tailnet_hostname"].endswith("."):
        module.fail_json(msg="tailnet_hostname=%r: give the MagicDNS name without the final dot, e.g. "
                         "macmini.example-tailnet.ts.net" % params["tailnet_hostname"])
    try:
        pvc = pf.parse_quantity(params["pvc_size"])
    except ValueError as exc:
        module.fail_json(msg="pvc_size: %s" % exc)
    for option in ("vm_disk_gib", "backup_copies"):
        if params[option] < 0:
            module.fail_json(msg="%s=%d: expected 0 or more" % (option, params[option]))
    for port in list(params["funnel_ports"]) + [p["port"] for p in params["ports"]]:
        if not 0 < port < 65536:
            module.fail_json(msg="port %d is outside 1-65535" % port)
    for entry in params["pythons"]:
        if pf.parse_version(entry["min"]) is None:
            module.fail_json(msg="pythons: min=%r for %s is not a version like 3.11" % (entry["min"], entry["path"]))
    return pvc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tailnet_hostname=dict(type="str", required=True),
            need_https_certs=dict(type="bool", default=False),
            funnel_ports=dict(type="list", elements="int", default=[]),
            tailscale_bin=dict(type="str", default="tailscale"),
            disk_path=dict(type="path", required=True),
            vm_disk_gib=dict(type="int", default=100),
            pvc_size=dict(type="str", default="5Gi"),
            backup_copies=dict(type="int", default=11),
            min_macos=dict(type="str", default="13.0"),
            min_talosctl=dict(type="str", default="1.12.0"),
            min_colima=dict(type="str", default="0.8.1"),
            pythons=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True), min=dict(type="str", required=True),
                purpose=dict(type="str", required=True))),
            ports=dict(type="list", elements="dict", default=[], options=dict(
                port=dict(type="int", required=True), address=dict(type="str", default="127.0.0.1"),
                purpose=dict(type="str", required=True), owners=dict(type="list", elements="str", default=[]))),
            endpoints=dict(type="dict", default={}),
            caddy_local_ports=dict(type="dict", default={}),
            published_ports=dict(type="dict", default={}),
            bind_address=dict(type="str", default="127.0.0.1"),
            image_check=dict(type="dict"),
            login_agents=dict(type="list", elements="str", default=[]),
            launch_daemons=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        funnel, need_https, stack = pf.stack_ports(params["endpoints"], params["caddy_local_ports"],
                                                   params["published_ports"], params["bind_address"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        module.fail_json(msg="endpoints / caddy_local_ports / published_ports are not shaped like "
                         "convex_public_endpoints and convex_published_ports in the inventory (defaults: roles/contract): %s" % exc)
    params["funnel_ports"] = sorted(set(params["funnel_ports"]) | set(funnel))
    params["need_https_certs"] = params["need_https_certs"] or need_https
    params["ports"] = list(params["ports"]) + stack
    pvc = validate(module)
    minimum = versions(module)
    mac = Mac(module)

    probes = [pf.check_macos(mac.run("sw_vers", ["-productVersion"]), minimum["min_macos"]),
              pf.check_apple_silicon(mac.run("sysctl", ["-n", "hw.optional.arm64"]))]
    path, free = free_bytes(params["disk_path"])
    probes.append(pf.check_disk(path, free, params["vm_disk_gib"], pvc, params["backup_copies"]))

    brew_dirs = ["/opt/homebrew/bin", "/usr/local/bin"]
    probes.append(pf.check_homebrew(mac.run("brew", ["--version"], brew_dirs),
                                    (mac.run("brew", ["--prefix"], brew_dirs) or "").strip()))
    for entry in params["pythons"]:
        out = mac.run(entry["path"], ["--version"])
        probes.append(pf.check_python(entry["purpose"], entry["path"], out, pf.parse_version(entry["min"])))
    talos = mac.run("talosctl", ["version", "--client"], brew_dirs)
    tag = None
    if talos is not None:
        found = [line.split(":", 1)[1].strip() for line in talos.splitlines() if line.strip().startswith("Tag:")]
        tag = found[0] if found else talos.strip()[:40]
    probes.append(pf.check_talosctl(tag, minimum["min_talosctl"]))
    colima = mac.run("colima", ["version"], brew_dirs)
    colima_version = None if colima is None else (_colima.version_string(colima) or colima.strip()[:40])
    probes.append(pf.check_colima(colima_version, minimum["min_colima"]))

    status, error = mac.tailscale_status(params["tailscale_bin"])
    probes.extend(pf.check_tailscale(status, error, params["tailnet_hostname"], params["need_https_certs"],
                                     params["funnel_ports"]))

    filevault = pf.parse_filevault(mac.run("fdesetup", ["status"]))
    auto_login = (mac.run("defaults", ["read", LOGINWINDOW, "autoLoginUser"]) or "").strip() or None
    autorestart = pf.parse_autorestart(mac.run("pmset", ["-g"]))
    probes.extend(pf.check_power_cut(filevault, auto_login, autorestart, params["login_agents"],
                                     params["launch_daemons"], tailscale_variant()))

    probes.append(pf.check_images(params["image_check"]))
    for entry in params["ports"]:
        probes.append(pf.check_port(entry, listener(entry, mac)))

    counts = dict((s, sum(1 for p in probes if p["status"] == s)) for s in (pf.OK, pf.WARN, pf.FAIL))
    module.exit_json(changed=False, probes=probes, report=report_lines(probes), verdict=pf.worst(p["status"] for p in probes),
                     counts=counts, facts=dict(filevault=filevault, auto_login_user=auto_login, autorestart=autorestart))


if __name__ == "__main__":
    main()
