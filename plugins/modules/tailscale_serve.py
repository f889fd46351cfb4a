#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tailscale_serve
short_description: Converge Tailscale serve and Funnel proxies on this node, changing only what differs
version_added: 0.1.0
description:
  - Reads the node's current serve/funnel config with C(tailscale serve status --json) and the node's
    name and capabilities with C(tailscale status --json), computes the difference to O(serve) on the
    ports it owns, and applies only that difference with C(tailscale serve|funnel --bg --yes --https=PORT TARGET)
    and removes stale ports with the serve verb (C(tailscale serve --yes --https=PORT off), C(--tcp=PORT off) for a TCP
    forward), never C(tailscale funnel ... off), which without the Funnel capability prints a URL and exits 0 having
    done nothing. A Funnel flag left without a handler is cleared by setting a throwaway handler with the serve verb
    and removing it. Re-reads the config afterwards and fails if it does not match.
  - It owns only O(serve)'s ports, what it set on an earlier run (recorded in O(state_file)) and O(managed_ports).
    A handler someone else set up on one of those ports (a foreign handler) stops the task before any change, with
    the port and the handler in the message, unless the port is listed in O(takeover_ports). A port it set earlier
    that someone has since changed is left alone with a warning. Every other port is never touched; they are
    returned in RV(unmanaged_ports).
  - Before any change it checks that tailscaled is running, that O(host) is this node's MagicDNS name, and,
    when a port is funnelled, that the tailnet policy grants HTTPS, the C(funnel) node attribute and the port.
    Otherwise C(tailscale funnel) would stop and wait for someone to enable Funnel in the admin console.
  - When the C(tailscale) CLI is missing it fails, or with O(when_missing=skip) returns C(skipped) with a reason
    (Linux test hosts have no tailscaled).
author:
  - Joel Hooks (@joelhooks)
options:
  host:
    description: This node's MagicDNS name, without the final dot (for example C(macmini.example-tailnet.ts.net)).
    type: str
    required: true
  serve:
    description: The proxies tailscaled must serve, one per port; TLS is terminated by tailscaled with the node's certificate.
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: The HTTPS port on the node's name. Funnelled ports must be 443, 8443 or 10000.
        type: int
        required: true
      target:
        description: Where tailscaled proxies to, for example C(http://127.0.0.1:8780).
        type: str
        required: true
      funnel:
        description: Publish the port on the internet (Funnel); false serves it to the tailnet only.
        type: bool
        default: true
      site:
        description: Informational label (the Caddy site behind it).
        type: str
  managed_ports:
    description:
      - Ports besides O(serve)'s that must carry no serve/funnel handler but this task's own, for example a port
        Caddy serves itself on the node's name (a serve handler there would shadow it). This task's own earlier
        config on them is removed; a foreign handler stops the task unless the port is in O(takeover_ports).
      - Earlier releases defaulted to C([443, 8443, 10000]) and removed anything on those ports.
    type: list
    elements: int
    default: []
  takeover_ports:
    description:
      - Ports whose foreign handler (one this task did not set) may be replaced or removed. Without it such a
        handler stops the task before any change.
    type: list
    elements: int
    default: []
  state_file:
    description:
      - A JSON file where this task records the ports it configured (port, target, Funnel flag), so that a later
        run can tell its own config from someone else's and remove only its own. Written only after a successful
        change, mode 0600. Without it, only a plain proxy to the target O(serve) asks for counts as this task's.
    type: path
  tailscale_bin:
    description:
      - The C(tailscale) CLI, a name looked up on the PATH or an absolute path. On macOS the App Store and
        standalone apps' CLI C(/Applications/Tailscale.app/Contents/MacOS/Tailscale) is tried next.
    type: str
    default: tailscale
  when_missing:
    description: What to do when the CLI is not found.
    type: str
    choices: [fail, skip]
    default: fail
  command_timeout:
    description: Seconds to wait for each C(tailscale) call before failing (a CLI that waits for a browser never ends).
    type: int
    default: 30
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: Reads the status, computes the same plan and RV(commands), runs no changing command.
  diff_mode:
    support: full
    details: Shows the managed ports before and after, as target and funnel flag per port.
notes:
  - The commands and JSON shapes follow the C(tailscale) CLI's C(serve_v2) interface; they were tested against a
    stateful fake CLI, not a real tailscaled. See the caddy_tailscale role README for what to check on the Mac.
"""

EXAMPLES = r"""
- name: Publish the Convex API (443) and HTTP actions (8443) through Funnel to Caddy's loopback listeners.
  joelclaw.macmini.tailscale_serve:
    host: macmini.example-tailnet.ts.net
    serve:
      - {port: 443, target: "http://127.0.0.1:8780", site: api}
      - {port: 8443, target: "http://127.0.0.1:8781", site: site}
    managed_ports: [8444]
    state_file: /opt/homebrew/var/lib/caddy-tailscale/tailscale-serve.json

- name: Take port 443 over from an app the owner served there by hand.
  joelclaw.macmini.tailscale_serve:
    host: macmini.example-tailnet.ts.net
    serve:
      - {port: 443, target: "http://127.0.0.1:8780", site: api}
    takeover_ports: [443]
    state_file: /opt/homebrew/var/lib/caddy-tailscale/tailscale-serve.json

- name: Remove every funnel this collection made (custom-domain mode); others stay.
  joelclaw.macmini.tailscale_serve:
    host: macmini.example-tailnet.ts.net
    serve: []
    state_file: /opt/homebrew/var/lib/caddy-tailscale/tailscale-serve.json
"""

RETURN = r"""
commands:
  description: The CLI calls made (or, in check mode, that would be made), in order.
  returned: success
  type: list
  elements: list
  sample: [["tailscale", "funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"]]
before:
  description: The managed ports before, each port mapped to its C(target) and C(funnel) flag.
  returned: success
  type: dict
  sample: {}
after:
  description: The managed ports after (in check mode, as they would be).
  returned: success
  type: dict
  sample: {"443": {"target": "http://127.0.0.1:8780", "funnel": true}}
taken_over:
  description: Ports whose foreign handler was (or in check mode would be) replaced, as O(takeover_ports) allowed.
  returned: success
  type: list
  elements: int
  sample: [443]
unmanaged_ports:
  description: Ports with serve/funnel config that this task left alone (the owner's).
  returned: success
  type: list
  elements: int
  sample: [9000]
tailscale_bin:
  description: The CLI that was used.
  returned: success
  type: str
  sample: /opt/homebrew/bin/tailscale
"""

import json
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.joelclaw.macmini.plugins.module_utils._tailscale_serve import (
    ServeError,
    check_desired,
    check_node,
    command,
    conflict_message,
    current_entries,
    describe,
    explain_cli_error,
    node_info,
    ownership,
    parse_json,
    plan,
    summary,
)

MACOS_APP_CLI = "/Applications/Tailscale.app/Contents/MacOS/Tailscale"


def find_cli(module, name):
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    found = module.get_bin_path(name)
    if found:
        return found
    if name == "tailscale" and os.access(MACOS_APP_CLI, os.X_OK):
        return MACOS_APP_CLI
    return None


def run(module, argv):
    """Run one CLI call with a deadline; returns (rc, stdout, stderr)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=module.params["command_timeout"],
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        module.fail_json(
            msg="`%s` did not finish within %ds (command_timeout); the CLI may be waiting for someone to approve "
                "something in a browser: run it by hand to see what it asks" % (" ".join(argv), exc.timeout),
            cmd=argv,
        )
    return proc.returncode, proc.stdout, proc.stderr


def read_json(module, binary, args, what):
    argv = [binary] + args
    rc, out, err = run(module, argv)
    if rc != 0:
        module.fail_json(msg="`%s` failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()), cmd=argv)
    try:
        return parse_json(out, what)
    except ServeError as exc:
        module.fail_json(msg=" | ".join(exc.problems), cmd=argv)


def read_ledger(module, path, host):
    """{port: {target, funnel}} this task recorded for host; {} when there is no ledger (yet)."""
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("host") != host:
            return {}
        return dict((int(port), {"target": entry["target"], "funnel": bool(entry["funnel"])})
                    for port, entry in (data.get("ports") or {}).items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        module.fail_json(msg="state_file %s is not a ledger this module wrote (%s); remove it and re-run, after "
                             "checking `tailscale serve status` for ports the collection set" % (path, exc))


def write_ledger(module, path, host, desired):
    """Record what this task now serves, atomically and private (0600); returns True when it changed."""
    text = json.dumps({"host": host, "ports": dict((str(port), desired[port]) for port in sorted(desired))},
                      indent=1, sort_keys=True) + "\n"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.tmp" % os.path.basename(path))
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    module.atomic_move(tmp, path)
    os.chmod(path, 0o600)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            serve=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    port=dict(type="int", required=True),
                    target=dict(type="str", required=True),
                    funnel=dict(type="bool", default=True),
                    site=dict(type="str"),
                ),
            ),
            managed_ports=dict(type="list", elements="int", default=[]),
            takeover_ports=dict(type="list", elements="int", default=[]),
            state_file=dict(type="path"),
            tailscale_bin=dict(type="str", default="tailscale"),
            when_missing=dict(type="str", choices=["fail", "skip"], default="fail"),
            command_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    host = module.params["host"].strip().lower()
    try:
        desired, managed = check_desired(host, module.params["serve"], module.params["managed_ports"])
    except ServeError as exc:
        module.fail_json(msg="Invalid tailscale serve settings: " + " | ".join(exc.problems), problems=exc.problems)

    binary = find_cli(module, module.params["tailscale_bin"])
    if binary is None:
        reason = (
            "the tailscale CLI (%s) is not on this machine, so no serve/funnel config was converged; install "
            "Tailscale and log in, or set tailscale_bin to its path" % module.params["tailscale_bin"]
        )
        if module.params["when_missing"] == "skip":
            module.exit_json(changed=False, skipped=True, msg=reason, commands=[], before={}, after={},
                             taken_over=[], unmanaged_ports=[], tailscale_bin="")
        module.fail_json(msg=reason)

    info = node_info(read_json(module, binary, ["status", "--json"], "tailscale status --json"))
    funnel_ports = set(port for port, want in desired.items() if want["funnel"])
    problems = check_node(info, host, funnel_ports)
    if problems:
        module.fail_json(msg="Cannot converge tailscale serve/funnel: " + " | ".join(problems), problems=problems)

    config = read_json(module, binary, ["serve", "status", "--json"], "tailscale serve status --json")
    current = current_entries(config, host)
    state_file = module.params["state_file"]
    recorded = read_ledger(module, state_file, host)
    act_on, conflicts, abandoned, taken_over = ownership(
        current, desired, managed - set(desired), recorded, set(module.params["takeover_ports"]))
    if conflicts:
        module.fail_json(msg=conflict_message(conflicts),
                         conflicts=[dict(port=port, handler=describe(have)) for port, have in conflicts])
    for port, have in abandoned:
        module.warn("tailscale serve port %d was set up by this collection earlier but now serves %s; someone "
                    "changed it, so it is left alone and no longer counted as the collection's" % (port, describe(have)))
    actions = plan(current, desired, act_on)
    commands = [command(binary, action) for action in actions]
    before = summary(current, act_on)
    after = summary(dict((port, dict(want, kind="proxy")) for port, want in desired.items()), act_on)
    ledger_stale = bool(state_file) and recorded != desired
    result = dict(
        changed=bool(actions) or ledger_stale,
        commands=commands,
        before=before,
        after=after,
        taken_over=taken_over,
        unmanaged_ports=sorted(port for port in current if port not in act_on),
        tailscale_bin=binary,
    )
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header="tailscale serve (before)",
                              after_header="tailscale serve (after)")
    if module.check_mode:
        module.exit_json(**result)
    if not actions:
        if ledger_stale:
            result["changed"] = write_ledger(module, state_file, host, desired)
        module.exit_json(**result)

    said = []
    for argv in commands:
        rc, out, err = run(module, argv)
        if (out or "").strip():
            said.append((out or "").strip())
        if rc != 0:
            hint = explain_cli_error(err + out)
            module.fail_json(
                msg="`%s` failed (rc=%d): %s%s" % (" ".join(argv), rc, (err or out).strip(),
                                                   ("; " + hint) if hint else ""),
                cmd=argv, **result)

    config = read_json(module, binary, ["serve", "status", "--json"], "tailscale serve status --json")
    now = summary(current_entries(config, host), act_on)
    if now != after:
        # The CLI can exit 0 having changed nothing: e.g. `tailscale funnel` without the Funnel capability
        # prints an enablement URL instead (funnel.go verifyFunnelEnabled, tailscale v1.102.3).
        text = " | ".join(said)
        hint = explain_cli_error(text)
        module.fail_json(
            msg="tailscale accepted the commands but its serve config does not match: expected %r, now %r; "
                "compare with `tailscale serve status --json`%s%s"
                % (after, now, ("; the CLI said: " + text) if text else "", ("; " + hint) if hint else ""),
            **result)
    if state_file:
        write_ledger(module, state_file, host, desired)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
