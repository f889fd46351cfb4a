# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-in for the `tailscale` CLI's serve/funnel commands (there is no tailscaled here).

It keeps the node in a JSON file named by $FAKE_TAILSCALE_STATE:
  {"self": {"DNSName": "...", "BackendState": "Running", "caps": [...]},
   "serve": <ipn.ServeConfig as `tailscale serve status --json` prints it>,
   "calls": [[args...], ...]}
and answers:
  status --json                         ipnstate.Status with Self.DNSName (final dot), Capabilities, CapMap
  serve status --json | funnel status --json   the ServeConfig ({} when empty)
  funnel status                         a short text rendering
  serve|funnel [--bg] [--yes] --https=N TARGET   set a "/" proxy on N (funnel also sets AllowFunnel,
                                        serve clears it), like serve_v2; without --bg it refuses, since the
                                        real CLI would stay in the foreground
  serve|funnel --https=N off            remove port N
  serve reset                           empty config
Funnel refusals mimic tailscaled's messages (ipn.CheckFunnelAccess): HTTPS off, no "funnel" node
attribute, port outside the funnel-ports capability. FAKE_TAILSCALE_BROKEN=1 makes set commands
exit 0 without changing anything (to test the re-read after apply).

install(directory) writes an executable `tailscale` wrapper into directory and returns its path.
"""

from __future__ import annotations

import json
import os
import stat
import sys

FUNNEL_PORTS_CAP = "https://tailscale.com/cap/funnel-ports?ports=443,8443,10000"
DEFAULT_CAPS = ["https", "funnel", FUNNEL_PORTS_CAP]


def install(directory, python=None):
    python = python or sys.executable
    path = os.path.join(str(directory), "tailscale")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (python, os.path.abspath(__file__)))
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return path


def write_state(path, dns_name="macmini.example-tailnet.ts.net", caps=None, serve=None, backend="Running"):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"self": {"DNSName": dns_name, "BackendState": backend,
                            "caps": DEFAULT_CAPS if caps is None else caps},
                   "serve": serve or {}, "calls": []}, handle, indent=1)


def load():
    with open(os.environ["FAKE_TAILSCALE_STATE"], encoding="utf-8") as handle:
        return json.load(handle)


def save(state):
    with open(os.environ["FAKE_TAILSCALE_STATE"], "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


def die(state, message, code=1):
    save(state)
    sys.stderr.write(message + "\n")
    sys.exit(code)


def allowed_ports(caps):
    for cap in caps:
        if cap.startswith("https://tailscale.com/cap/funnel-ports?ports="):
            return set(int(p) for p in cap.split("=", 1)[1].split(","))
    return set()


def status(state):
    node = state["self"]
    return {
        "BackendState": node["BackendState"],
        "Self": {
            "DNSName": node["DNSName"] + ".",
            "Capabilities": list(node["caps"]),
            "CapMap": dict((cap, None) for cap in node["caps"]),
        },
    }


def set_port(state, verb, port, target):
    node = state["self"]
    host = "%s:%d" % (node["DNSName"], port)
    if verb == "funnel":
        if "https" not in node["caps"]:
            die(state, "Funnel not available; HTTPS must be enabled. See https://tailscale.com/s/https.")
        if "funnel" not in node["caps"]:
            die(state, "Funnel is not enabled on your tailnet.\nTo enable, visit:\n\n"
                       "         https://login.tailscale.com/f/funnel?node=nFAKE\n")
        if port not in allowed_ports(node["caps"]):
            die(state, "port %d is not allowed for funnel; allowed ports are: %s"
                % (port, ", ".join(str(p) for p in sorted(allowed_ports(node["caps"])))))
    if os.environ.get("FAKE_TAILSCALE_BROKEN"):
        return
    if target.isdigit():
        target = "http://127.0.0.1:" + target
    serve = state["serve"]
    serve.setdefault("TCP", {})[str(port)] = {"HTTPS": True}
    serve.setdefault("Web", {})[host] = {"Handlers": {"/": {"Proxy": target}}}
    funnel = serve.setdefault("AllowFunnel", {})
    if verb == "funnel":
        funnel[host] = True
    else:
        funnel.pop(host, None)
    if not funnel:
        serve.pop("AllowFunnel")


def remove_port(state, port):
    host = "%s:%d" % (state["self"]["DNSName"], port)
    serve = state["serve"]
    if str(port) not in serve.get("TCP", {}):
        die(state, "error: failed to remove web serve: port %d is not serving" % port)
    for key, value in (("TCP", str(port)), ("Web", host), ("AllowFunnel", host)):
        serve.get(key, {}).pop(value, None)
        if key in serve and not serve[key]:
            del serve[key]


def text_status(serve):
    lines = []
    for port in sorted(serve.get("TCP", {}), key=int):
        for host, web in sorted(serve.get("Web", {}).items()):
            if host.endswith(":" + port):
                on = serve.get("AllowFunnel", {}).get(host)
                lines.append("https://%s (%s)" % (host, "Funnel on" if on else "tailnet only"))
                for path, handler in sorted(web["Handlers"].items()):
                    lines.append("|-- %s proxy %s" % (path, handler.get("Proxy")))
    return "\n".join(lines) or "No serve config"


def main(argv):
    state = load()
    state["calls"].append(argv)
    if argv == ["status", "--json"]:
        print(json.dumps(status(state), indent=2))
    elif argv[:1] in (["serve"], ["funnel"]) and argv[1:] == ["status", "--json"]:
        print(json.dumps(state["serve"], indent=2))
    elif argv == ["funnel", "status"]:
        print(text_status(state["serve"]))
    elif argv == ["serve", "reset"]:
        state["serve"] = {}
    elif argv[:1] in (["serve"], ["funnel"]):
        verb, rest = argv[0], argv[1:]
        flags = [a for a in rest if a.startswith("--")]
        positional = [a for a in rest if not a.startswith("--")]
        https = [f.split("=", 1)[1] for f in flags if f.startswith("--https=")]
        unknown = [f for f in flags if not f.startswith("--https=") and f not in ("--bg", "--yes")]
        if unknown or len(https) != 1 or not https[0].isdigit() or len(positional) != 1:
            die(state, "fake tailscale: unsupported %s call %r" % (verb, argv), 2)
        port = int(https[0])
        if positional[0] == "off":
            remove_port(state, port)
        elif "--bg" not in flags:
            die(state, "fake tailscale: without --bg the real CLI stays in the foreground; refusing", 3)
        else:
            set_port(state, verb, port, positional[0])
    else:
        die(state, "fake tailscale: unknown command %r" % (argv,), 2)
    save(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
