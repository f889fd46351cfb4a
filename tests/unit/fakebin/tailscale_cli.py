# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-in for the `tailscale` CLI's status, ip and serve/funnel commands (no tailscaled here).

Every behaviour below was read in github:tailscale/tailscale at tag v1.102.3 (the latest tag in the
shared host-stack reference), unless marked "guessed":
  - cmd/tailscale/cli/serve_v2.go: runServeCombined, validateArgs, srvTypeAndPortFromFlags, setServe,
    applyWebServe, applyFunnel, unsetServe, removeWebServe, removeTCPServe, errHelpFunc;
  - cmd/tailscale/cli/funnel.go: verifyFunnelEnabled (the funnel verb checks port 443 only);
  - cmd/tailscale/cli/serve_legacy.go: enableFeatureInteractive, runServeStatus, runServeReset;
  - ipn/serve.go: ServeConfig JSON, SetWebHandler, SetFunnel, RemoveWebHandler, RemoveTCPForwarding,
    CheckFunnelAccess / NodeCanFunnel / CheckFunnelPort (error texts), ExpandProxyTargetValue;
  - ipn/ipnstate/ipnstate.go (Status, PeerStatus JSON) and ipn/ipnlocal/local.go (Self.Capabilities
    starts with the deprecation marker, CapMap keys mirror it);
  - cmd/tailscale/cli/ip.go: `tailscale ip` prints Status.TailscaleIPs, one per line;
  - util/prompt/prompt.go: before v1.90.0 (commit b9cdef18c) YesNo read stdin and answered "no" on EOF;
    from v1.90.0 it returns the default (yes) when stdin/stdout are not a TTY;
  - cmd/tailscale/tailscale.go main: an error is printed to stderr and the exit code is 1.
  - Flags are parsed by Go's flag package through ff v3.4.0 (github:peterbourgon/ff parse.go): parsing
    stops at the first non-flag argument, so `serve --https=443 off --yes` has the positional arguments
    ["off", "--yes"] and is refused as an invalid argument format.

It keeps the node in a JSON file named by $FAKE_TAILSCALE_STATE:
  {"self": {"DNSName": "...", "BackendState": "Running", "caps": [...], "ips": [...]},
   "serve": <ipn.ServeConfig as `tailscale serve status --json` prints it>,
   "calls": [[args...], ...]}
Environment knobs:
  FAKE_TAILSCALE_VERSION   CLI version (default 1.102.3); below 1.90.0 the multi-mount prompt says "no".
  FAKE_TAILSCALE_FEATURE   what control answers to the CLI's feature query when a capability is missing
                           (enableFeatureInteractive): "url" (default) prints a text and an enablement URL on
                           stdout and exits 0 having changed nothing; "wait" blocks until killed; "error" makes
                           the query fail, so the CLI falls back to CheckFunnelAccess and exits 1. The text
                           control sends is guessed (it comes from the control server, not from this repo).
  FAKE_TAILSCALE_BROKEN=1  set commands exit 0 without changing anything (to test the re-read after apply).
Simplification: without --bg a set command would stay in the foreground with a session-scoped config; the
fake refuses it instead (exit 3), since nothing here should ever run it.

A node that already serves something before the collection arrives (a "foreign handler") is modelled by
seeding "serve" with what the owner's own commands would have left there: foreign_serve() builds it with the
shapes ipn/serve.go (tag v1.102.3, commit 53a0d659afa51835dd7a9283873cca44261454f8) gives ServeConfig,
TCPPortHandler and HTTPHandler, as SetWebHandler + SetFunnel (`tailscale funnel --bg --https=N TARGET`) and
SetTCPForwarding (`tailscale serve --bg --tcp=N TARGET`) write them. The fake then treats those entries like any
other: status prints them, `off` removes them, a set replaces them.

install(directory[, state]) writes an executable `tailscale` wrapper into directory and returns its path; with
state, the wrapper sets $FAKE_TAILSCALE_STATE itself (a test host where the caller cannot set the environment).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections import OrderedDict

FUNNEL_PORTS_CAP = "https://tailscale.com/cap/funnel-ports?ports=443,8443,10000"
DEFAULT_CAPS = ["https", "funnel", FUNNEL_PORTS_CAP]
DEFAULT_IPS = ["100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
# ipn/ipnlocal/local.go (v1.102.3): the first entry of Self.Capabilities.
DEPRECATED_CAPS_MARKER = ("HTTPS://TAILSCALE.COM/s/DEPRECATED-NODE-CAPS#see-https://github.com/tailscale/"
                          "tailscale/issues/11508")
# guessed: the wording control sends back for a feature query (QueryFeature's Text and URL).
FEATURE_TEXT = "Funnel is not enabled on your tailnet.\nTo enable, visit:"
FEATURE_URL = "https://login.tailscale.com/f/funnel?node=nFAKE"
HTTPS_FEATURE_TEXT = "HTTPS is not enabled on your tailnet.\nTo enable, visit:"
HTTPS_FEATURE_URL = "https://login.tailscale.com/f/serve?node=nFAKE"


class CliError(Exception):
    """An error the real CLI prints to stderr before exiting 1."""


def install(directory, python=None, state=None):
    python = python or sys.executable
    path = os.path.join(str(directory), "tailscale")
    env = 'FAKE_TAILSCALE_STATE="%s" ' % state if state else ""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\n%sexec "%s" "%s" "$@"\n' % (env, python, os.path.abspath(__file__)))
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return path


def write_state(path, dns_name="macmini.example-tailnet.ts.net", caps=None, serve=None, backend="Running",
                ips=None):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"self": {"DNSName": dns_name, "BackendState": backend,
                            "caps": DEFAULT_CAPS if caps is None else caps,
                            "ips": DEFAULT_IPS if ips is None else ips},
                   "serve": serve or {}, "calls": []}, handle, indent=1)


def foreign_serve(dns_name, web=None, tcp=None, serve=None):
    """A ServeConfig holding handlers someone else set up by hand (ipn/serve.go @ 53a0d659).

    web: {port: (proxy_target, funnel)} as `tailscale serve|funnel --bg --https=PORT TARGET` leaves them
    (TCP[port] = {HTTPS: true}, Web["<node>:<port>"].Handlers["/"] = {Proxy: target}, AllowFunnel when funnelled);
    tcp: {port: "host:port"} as `tailscale serve --bg --tcp=PORT TARGET` leaves them (TCP[port] = {TCPForward}).
    """
    serve = json.loads(json.dumps(serve or {}))
    for port, (target, funnel) in (web or {}).items():
        host = "%s:%d" % (dns_name, port)
        serve.setdefault("TCP", {})[str(port)] = {"HTTPS": True}
        serve.setdefault("Web", {})[host] = {"Handlers": {"/": {"Proxy": expand_proxy_target(target)}}}
        if funnel:
            serve.setdefault("AllowFunnel", {})[host] = True
    for port, target in (tcp or {}).items():
        serve.setdefault("TCP", {})[str(port)] = {"TCPForward": target}
    return serve


def load():
    with open(os.environ["FAKE_TAILSCALE_STATE"], encoding="utf-8") as handle:
        return json.load(handle)


def save(state):
    with open(os.environ["FAKE_TAILSCALE_STATE"], "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


def version():
    return tuple(int(p) for p in os.environ.get("FAKE_TAILSCALE_VERSION", "1.102.3").split(".")[:3])


def status(state):
    """ipnstate.Status as `tailscale status --json` prints it (the fields this project reads, plus context)."""
    node = state["self"]
    caps = sorted(node["caps"])
    ips = list(node.get("ips", DEFAULT_IPS)) if node["BackendState"] == "Running" else []
    suffix = node["DNSName"].split(".", 1)[1] if "." in node["DNSName"] else ""
    self_status = OrderedDict([
        ("HostName", node["DNSName"].split(".")[0]),
        ("DNSName", node["DNSName"] + "."),
        ("OS", "macOS"),
        ("TailscaleIPs", ips),
    ])
    if caps:
        self_status["Capabilities"] = [DEPRECATED_CAPS_MARKER] + caps
        self_status["CapMap"] = OrderedDict((cap, None) for cap in caps)
    return OrderedDict([
        ("Version", "%d.%d.%d" % version()),
        ("TUN", True),
        ("BackendState", node["BackendState"]),
        ("TailscaleIPs", ips),
        ("Self", self_status),
        ("MagicDNSSuffix", suffix),
        ("CurrentTailnet", OrderedDict([("Name", "example@github"), ("MagicDNSSuffix", suffix),
                                        ("MagicDNSEnabled", True)])),
        ("CertDomains", [node["DNSName"]] if "https" in caps else None),
    ])


def serve_json(serve):
    """json.MarshalIndent(sc, "", "  ") of ipn.ServeConfig: struct fields in declaration order, omitempty."""
    out = OrderedDict()
    for key in ("TCP", "Web", "Services", "AllowFunnel", "Foreground"):
        if serve.get(key):
            out[key] = OrderedDict(sorted(serve[key].items()))
    return json.dumps(out, indent=2) + "\n"


def feature_query(state, caps):
    """enableFeatureInteractive (serve_legacy.go): a no-op when the node has every capability."""
    node_caps = state["self"]["caps"]
    if all(cap in node_caps for cap in caps):
        return
    mode = os.environ.get("FAKE_TAILSCALE_FEATURE", "url")
    if mode == "wait":
        # ShouldWait: the CLI watches the IPN bus until an admin enables the feature.
        save(state)
        time.sleep(3600)
    if mode == "error":
        raise LookupError("feature query failed")
    # Not ShouldWait: print the text and URL on stdout and os.Exit(0), having changed nothing.
    save(state)
    if "funnel" in caps:
        sys.stdout.write("\n%s\n\n         %s\n\n" % (FEATURE_TEXT, FEATURE_URL))
    else:
        sys.stdout.write("\n%s\n\n         %s\n\n" % (HTTPS_FEATURE_TEXT, HTTPS_FEATURE_URL))
    sys.exit(0)


def allowed_funnel_ports(caps):
    for cap in caps:
        if cap.startswith("https://tailscale.com/cap/funnel-ports?ports="):
            return cap.split("=", 1)[1]
    return ""


def check_funnel_port(port, caps):
    """ipn.CheckFunnelPort: ranges like 8000-8010 are allowed in the ports list."""
    allowed = allowed_funnel_ports(caps)
    for part in allowed.split(","):
        first, _sep, last = part.partition("-")
        if (not last and first == str(port)) or (last and first.isdigit() and last.isdigit()
                                                 and int(first) <= port <= int(last)):
            return
    if not allowed:
        raise CliError("port %d is not allowed for funnel" % port)
    raise CliError("port %d is not allowed for funnel; allowed ports are: %s" % (port, allowed))


def verify_funnel_enabled(state):
    """funnel.go verifyFunnelEnabled, always called with port 443 by runServeCombined."""
    caps = state["self"]["caps"]
    try:
        feature_query(state, ["https", "funnel"])
    except LookupError:
        # Fallback: ipn.CheckFunnelAccess(443, Self).
        if "https" not in caps:
            raise CliError("Funnel not available; HTTPS must be enabled. See https://tailscale.com/s/https.")
        if "funnel" not in caps:
            raise CliError('Funnel not available; "funnel" node attribute not set. '
                           "See https://tailscale.com/s/no-funnel.")
    check_funnel_port(443, caps)


def parse_flags(verb, argv):
    """Go flag parsing: flags until the first non-flag argument (or "--"), the rest are positional."""
    uint_flags = {"https", "tcp", "tls-terminated-tcp", "proxy-protocol"}
    if verb == "serve":
        uint_flags |= {"http"}
    bool_flags = {"bg", "yes"}
    string_flags = {"set-path"}
    flags, args = {}, list(argv)
    while args:
        arg = args[0]
        if arg == "--":
            args.pop(0)
            break
        if not arg.startswith("-") or arg == "-":
            break
        args.pop(0)
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in bool_flags:
            flags[name] = value.lower() not in ("false", "0") if has_value else True
        elif name in uint_flags | string_flags:
            if not has_value:
                if not args:
                    raise CliError("flag needs an argument: -%s" % name)
                value = args.pop(0)
            if name in uint_flags and not value.isdigit():
                raise CliError('invalid value "%s" for flag -%s: parse error' % (value, name))
            flags[name] = int(value) if name in uint_flags else value
        else:
            raise CliError("flag provided but not defined: -%s" % name)
    return flags, args


def expand_proxy_target(target):
    """ipn.ExpandProxyTargetValue for http(s) targets: a bare port means http://127.0.0.1:PORT."""
    if target.isdigit():
        return "http://127.0.0.1:%d" % int(target)
    if "://" not in target:
        target = "http://" + target
    return target


def serve_command(state, verb, argv):
    """runServeCombined (serve_v2.go) for a node (no --service): set or turn off one port."""
    flags, args = parse_flags(verb, argv)
    if len(args) == 0:
        return  # flag.ErrHelp: usage is printed and the exit code is 0
    if len(args) > 2:
        raise CliError("Error: invalid number of arguments (%d)" % len(args))
    turn_off = args[-1] == "off"
    if len(args) == 2 and not turn_off:
        raise CliError("Error: invalid argument format\ntry `tailscale %s --help` for usage info" % verb)
    if verb == "funnel":
        verify_funnel_enabled(state)
    types = [(t, flags[t]) for t in ("http", "https", "tcp", "tls-terminated-tcp") if flags.get(t)]
    if len(types) > 1:
        raise CliError("error: cannot serve multiple types for a single mount point\n\n"
                       "try `tailscale %s --help` for usage info" % verb)
    srv_type, port = types[0] if types else ("https", 443)
    if not turn_off and srv_type == "https":
        feature_query(state, ["https"])
    if not flags.get("bg") and not turn_off:
        raise CliError("fake tailscale: without --bg the real CLI stays in the foreground; refusing")
    if flags.get("set-path"):
        raise CliError("fake tailscale: --set-path is not modelled")
    node = state["self"]
    serve = state["serve"]
    host = "%s:%d" % (node["DNSName"], port)
    try:
        if turn_off:
            if srv_type in ("http", "https"):
                remove_web(serve, host, port, flags.get("yes", False))
            else:
                remove_tcp(serve, port)
        else:
            if srv_type not in ("http", "https"):
                raise CliError("fake tailscale: setting a TCP forward is not modelled")
            if os.environ.get("FAKE_TAILSCALE_BROKEN"):
                return
            set_web(serve, host, port, srv_type == "https", args[0])
            set_funnel(serve, host, verb == "funnel")
    except ValueError as exc:
        raise CliError("error: %s\n\ntry `tailscale %s --help` for usage info" % (exc, verb))
    for key in list(serve):
        if not serve[key]:
            del serve[key]


def set_web(serve, host, port, use_tls, target):
    """applyWebServe + ServeConfig.SetWebHandler with the default mount "/"."""
    handler = {"Text": target[len("text:"):]} if target.startswith("text:") else {"Proxy": expand_proxy_target(target)}
    if (serve.get("TCP") or {}).get(str(port), {}).get("TCPForward"):
        raise ValueError("failed apply web serve: cannot serve web; already serving TCP")
    serve.setdefault("TCP", {})[str(port)] = {"HTTPS": True} if use_tls else {"HTTP": True}
    serve.setdefault("Web", {}).setdefault(host, {"Handlers": {}})["Handlers"]["/"] = handler


def set_funnel(serve, host, on):
    """applyFunnel / ServeConfig.SetFunnel: the serve verb clears AllowFunnel, the funnel verb sets it."""
    allow = serve.setdefault("AllowFunnel", {})
    if on:
        allow[host] = True
    elif host in allow:
        sys.stderr.write("Removing Funnel for %s:%s\n" % (host.rsplit(":", 1)[0], host))
        del allow[host]


def remove_web(serve, host, port, yes):
    """removeWebServe + ServeConfig.RemoveWebHandler(cleanupFunnel=true)."""
    tcp = (serve.get("TCP") or {}).get(str(port)) or {}
    if tcp.get("TCPForward"):
        raise ValueError("failed to remove web serve: cannot remove web handler; currently serving TCP")
    handlers = ((serve.get("Web") or {}).get(host) or {}).get("Handlers") or {}
    if not handlers:
        raise ValueError("failed to remove web serve: handler does not exist")
    if len(handlers) > 1 and not yes:
        sys.stdout.write("Are you sure you want to delete %d handlers under port %d? " % (len(handlers), port))
        if version() < (1, 90, 0):
            # prompt.YesNo before v1.90: Scanln on a closed/empty stdin leaves "", which is "no":
            # removeWebServe returns nil and the CLI exits 0 having removed nothing.
            sys.stdout.write("[y/n] \n")
            return
        # v1.90+: no TTY on stdin and stdout, so the default (yes) is taken.
    del serve["Web"][host]
    (serve.get("TCP") or {}).pop(str(port), None)
    (serve.get("AllowFunnel") or {}).pop(host, None)


def remove_tcp(serve, port):
    """removeTCPServe + ServeConfig.RemoveTCPForwarding: AllowFunnel is left as it was."""
    tcp = (serve.get("TCP") or {}).get(str(port))
    if not tcp:
        raise ValueError("failed to remove TCP serve: serve config does not exist")
    if tcp.get("HTTPS") or tcp.get("HTTP"):
        raise ValueError("failed to remove TCP serve: unable to remove; serving web, not TCP forwarding on "
                         "serve port %d" % port)
    del serve["TCP"][str(port)]


def seed(argv):
    """`tailscale_cli.py seed STATE_FILE DNS_NAME [--web PORT=TARGET[,funnel]]... [--tcp PORT=TARGET]...`:
    a node that already serves the owner's things (for test hosts, where the Python API is not at hand)."""
    path, dns_name, rest = argv[0], argv[1], argv[2:]
    web, tcp = {}, {}
    while rest:
        flag, value = rest.pop(0), rest.pop(0)
        port, _sep, target = value.partition("=")
        if flag == "--web":
            target, _sep, mode = target.partition(",")
            web[int(port)] = (target, mode == "funnel")
        else:
            tcp[int(port)] = target
    write_state(path, dns_name=dns_name, serve=foreign_serve(dns_name, web=web, tcp=tcp))
    return 0


def main(argv):
    state = load()
    state["calls"].append(argv)
    try:
        if argv == ["status", "--json"]:
            sys.stdout.write(json.dumps(status(state), indent=2) + "\n")
        elif argv == ["ip"]:
            ips = status(state)["TailscaleIPs"]
            if not ips:
                raise CliError("no current Tailscale IPs; state: %s" % state["self"]["BackendState"])
            sys.stdout.write("".join(ip + "\n" for ip in ips))
        elif argv[:1] in (["serve"], ["funnel"]) and argv[1:] == ["status", "--json"]:
            sys.stdout.write(serve_json(state["serve"]))
        elif argv[:1] in (["serve"], ["funnel"]) and argv[1:] == ["reset"]:
            state["serve"] = {}
        elif argv[:1] in (["serve"], ["funnel"]):
            serve_command(state, argv[0], argv[1:])
        else:
            raise CliError("fake tailscale: unknown command %r" % (argv,))
    except CliError as exc:
        save(state)
        sys.stderr.write(str(exc) + "\n")
        return 1
    save(state)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        sys.exit(seed(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
