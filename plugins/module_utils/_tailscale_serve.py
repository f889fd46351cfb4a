# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Read tailscaled's serve/funnel config and plan the smallest change to reach a desired one.

Only ports the collection owns are changed: what it asks for, what it set on an earlier run (a ledger the
module keeps), and ports the caller needs free. A handler someone else set up on such a port stops the task
(ownership(), conflict_message()) unless the caller lists the port for takeover.

Pure functions, no I/O: the tailscale_serve module runs the CLI, these decide.

Shapes read (tailscale ipn.ServeConfig as printed by `tailscale serve status --json`, and
ipnstate.Status from `tailscale status --json`):

  {"TCP": {"443": {"HTTPS": true}},
   "Web": {"node.tailnet.ts.net:443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8780"}}}},
   "AllowFunnel": {"node.tailnet.ts.net:443": true}}

  {"BackendState": "Running",
   "Self": {"DNSName": "node.tailnet.ts.net.", "Capabilities": [...], "CapMap": {...}}}
"""
from __future__ import absolute_import, annotations, division, print_function

import json
import re

FUNNEL_PORTS = (443, 8443, 10000)
CAP_HTTPS = "https"
CAP_FUNNEL = "funnel"
CAP_FUNNEL_PORTS = "https://tailscale.com/cap/funnel-ports"
POLICY_HINT = (
    'grant it in the tailnet policy file (admin console, Access controls): '
    '"nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}] '
    "(or a tag or user that covers this node), then re-run. See https://tailscale.com/s/no-funnel"
)
HTTPS_HINT = "enable HTTPS certificates for the tailnet (admin console, DNS page), then re-run"

_TARGET = re.compile(r"^(https?|https\+insecure)://[^/\s]+(:[0-9]{1,5})?(/[^\s]*)?\Z")


class ServeError(ValueError):
    """A list of human-readable problems; nothing was changed when this is raised before apply."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(ServeError, self).__init__("; ".join(self.problems))


def parse_json(text, what):
    """Parse CLI JSON output; empty output and `null` mean an empty object."""
    text = (text or "").strip()
    if text in ("", "null"):
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ServeError(["%s did not print JSON (%s); first bytes: %r" % (what, exc, text[:200])])
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ServeError(["%s printed %s, expected a JSON object" % (what, type(value).__name__)])
    return value


def node_info(status):
    """The parts of `tailscale status --json` this module needs."""
    self_status = status.get("Self") or {}
    caps = set(self_status.get("Capabilities") or [])
    caps.update((self_status.get("CapMap") or {}).keys())
    return {
        "backend_state": status.get("BackendState") or "",
        "dns_name": (self_status.get("DNSName") or "").rstrip(".").lower(),
        "caps": caps,
    }


def allowed_funnel_ports(caps):
    """Ports the funnel-ports capability allows; None when the capability is absent."""
    allowed = None
    for cap in caps:
        if not cap.startswith(CAP_FUNNEL_PORTS + "?ports="):
            continue
        allowed = set() if allowed is None else allowed
        for part in cap.split("?ports=", 1)[1].split(","):
            part = part.strip()
            low, _sep, high = part.partition("-")
            if low.isdigit() and (not high or high.isdigit()):
                allowed.update(range(int(low), int(high or low) + 1))
    return allowed


def check_node(info, host, funnel_ports):
    """Problems that make the desired config impossible on this node (checked before any change)."""
    problems = []
    if info["backend_state"] != "Running":
        problems.append(
            "tailscale is not connected on this machine (BackendState=%r); run `tailscale up` (or open the "
            "Tailscale app and log in), then re-run" % info["backend_state"]
        )
        return problems
    if info["dns_name"] != host.lower():
        problems.append(
            "host=%r is not this node's MagicDNS name %r (tailscale status --json: .Self.DNSName); set "
            "convex_tailnet_hostname to %r" % (host, info["dns_name"], info["dns_name"])
        )
    if not funnel_ports:
        return problems
    if CAP_HTTPS not in info["caps"]:
        problems.append("Funnel is not available: HTTPS certificates are off for this tailnet; " + HTTPS_HINT)
    if CAP_FUNNEL not in info["caps"]:
        problems.append(
            "Funnel is not permitted for this node by the tailnet policy (the \"funnel\" node attribute is "
            "missing), so ports %s cannot be published; " % ", ".join(str(p) for p in sorted(funnel_ports))
            + POLICY_HINT
        )
        return problems
    allowed = allowed_funnel_ports(info["caps"])
    if allowed is not None:
        refused = sorted(p for p in funnel_ports if p not in allowed)
        if refused:
            allowed_text = ", ".join(str(p) for p in sorted(allowed)) or "(none)"
            problems.append(
                "the tailnet policy allows Funnel on ports %s only, not %s; use one of the allowed ports or "
                "widen the funnel-ports policy" % (allowed_text, ", ".join(str(p) for p in refused))
            )
    return problems


def normalise_target(target):
    target = (target or "").strip()
    if target.isdigit():
        target = "http://127.0.0.1:" + target
    return target.rstrip("/")


def check_desired(host, serve, managed_ports):
    """Validate the desired entries; return ({port: {target, funnel}}, managed port set)."""
    problems = []
    if not host or not host.lower().endswith(".ts.net") or "/" in host or ":" in host:
        problems.append(
            "host=%r must be this node's bare MagicDNS name ending in .ts.net (convex_tailnet_hostname)" % (host,)
        )
    desired = {}
    for index, entry in enumerate(serve):
        where = "serve[%d]" % index
        port = entry.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problems.append("%s: port=%r is not a TCP port (1-65535)" % (where, port))
            continue
        funnel = bool(entry.get("funnel", True))
        if funnel and port not in FUNNEL_PORTS:
            problems.append(
                "%s: port=%d cannot be funnelled: Funnel listens only on ports %s; pick one of those"
                % (where, port, ", ".join(str(p) for p in FUNNEL_PORTS))
            )
        target = normalise_target(entry.get("target"))
        if not _TARGET.match(target):
            problems.append(
                "%s: target=%r is not a URL tailscaled can proxy to; expected e.g. http://127.0.0.1:8780"
                % (where, entry.get("target"))
            )
        if port in desired:
            problems.append("%s: port=%d appears twice; one entry per port" % (where, port))
        desired[port] = {"target": target, "funnel": funnel}
    managed = set()
    for port in managed_ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problems.append("managed_ports: %r is not a TCP port (1-65535)" % (port,))
        else:
            managed.add(port)
    if problems:
        raise ServeError(problems)
    return desired, managed | set(desired)


def current_entries(config, host):
    """{port: {target, funnel, kind, http, detail}} from a ServeConfig, for the given host.

    kind is "proxy" (one "/" proxy handler over HTTPS, what this module sets), "web" (other HTTP(S)
    handlers for this host), "tcp" (a TCP forward) or "funnel" (Funnel allowed, but no handler for this
    host: removeWebServe says "handler does not exist", so `off` cannot clear it).
    """
    host = host.lower()
    web = dict((k.lower(), v) for k, v in (config.get("Web") or {}).items())
    allow = dict((k.lower(), bool(v)) for k, v in (config.get("AllowFunnel") or {}).items())
    entries = {}
    for port_text, handler in (config.get("TCP") or {}).items():
        port = int(port_text)
        handler = handler or {}
        key = "%s:%d" % (host, port)
        handlers = (web.get(key) or {}).get("Handlers") or {}
        entry = {"target": None, "funnel": allow.get(key, False), "kind": "funnel", "http": False,
                 "detail": handler}
        if handler.get("TCPForward"):
            entry["kind"] = "tcp"
        elif handlers:
            entry.update(kind="web", http=not handler.get("HTTPS"), detail=handlers)
            proxy = (handlers.get("/") or {}).get("Proxy")
            if list(handlers) == ["/"] and proxy and handler.get("HTTPS"):
                entry.update(kind="proxy", target=normalise_target(proxy), detail=None)
        entries[port] = entry
    # A funnel flag left without a TCP handler still counts as configuration on that port.
    for key, on in allow.items():
        name, _sep, port_text = key.rpartition(":")
        if on and name == host and port_text.isdigit() and int(port_text) not in entries:
            entries[int(port_text)] = {"target": None, "funnel": True, "kind": "funnel", "http": False,
                                       "detail": None}
    return entries


def _removal(port, have):
    """The steps that clear one port, chosen by what removeWebServe/removeTCPServe accept (serve_v2.go)."""
    steps = []
    if have["kind"] == "tcp":
        # removeTCPServe refuses --https ("currently serving TCP") and leaves AllowFunnel as it was.
        steps.append({"action": "remove", "port": port, "flag": "tcp"})
        if not have["funnel"]:
            return steps
    elif have["kind"] in ("proxy", "web"):
        # RemoveWebHandler(cleanupFunnel=true) drops the handlers, the TCP entry and AllowFunnel together.
        return [{"action": "remove", "port": port, "flag": "http" if have["http"] else "https"}]
    # Funnel allowed with no handler for this host: `off` fails ("handler does not exist"). Set a
    # throwaway handler with the serve verb, which clears AllowFunnel (applyFunnel), then remove it.
    steps.append({"action": "claim", "port": port})
    steps.append({"action": "remove", "port": port, "flag": "http"})
    return steps


def describe(entry):
    """What a port serves, in words, e.g. "/ -> proxy http://127.0.0.1:3000 over HTTPS, Funnel on"."""
    detail = entry.get("detail")
    if entry["kind"] == "proxy":
        text = "/ -> proxy %s over HTTPS" % entry["target"]
    elif entry["kind"] == "tcp":
        text = "TCP forward to %s" % (detail or {}).get("TCPForward", "?")
    elif entry["kind"] == "web":
        parts = []
        for mount in sorted(detail or {}):
            handler = detail[mount] or {}
            what = ", ".join("%s %s" % (key.lower(), handler[key]) for key in sorted(handler) if handler[key])
            parts.append("%s -> %s" % (mount, what or "(empty handler)"))
        text = "%s over %s" % ("; ".join(parts), "HTTP" if entry["http"] else "HTTPS")
    else:
        return "a Funnel flag with no handler"
    return text + (", Funnel on" if entry["funnel"] else "")


def _same(have, recorded):
    return bool(recorded) and have["kind"] == "proxy" and have["target"] == recorded.get("target") \
        and have["funnel"] == bool(recorded.get("funnel"))


def ownership(current, desired, managed, recorded, takeover):
    """Split the ports this task would act on into ours and the owner's.

    current  - current_entries(); desired - {port: {target, funnel}}; managed - ports that must not hold a
    foreign handler (besides desired); recorded - {port: {target, funnel}} this task set on an earlier run
    (its ledger); takeover - ports whose foreign handler may be replaced.

    A port's config is ours when it is what we set before (the ledger), already the plain proxy to the
    target we want (Funnel flag aside), or a Funnel flag with no handler (nothing is served there).
    Returns (act_on, conflicts, abandoned, taken_over):
      act_on     - ports plan() may change;
      conflicts  - [(port, entry)] foreign handlers on ports we need: the task must stop;
      abandoned  - [(port, entry)] ports we set earlier that someone has since changed: left alone;
      taken_over - ports whose foreign handler takeover lets us replace.
    """
    act_on, conflicts, abandoned, taken_over = set(), [], [], []
    for port in sorted(set(desired) | set(managed) | set(recorded)):
        have = current.get(port)
        want = desired.get(port)
        ours = (not have or have["kind"] == "funnel" or _same(have, recorded.get(port))
                or (want is not None and have["kind"] == "proxy" and have["target"] == want["target"]))
        if ours:
            act_on.add(port)
        elif port in takeover:
            act_on.add(port)
            taken_over.append(port)
        elif want is not None or port in managed:
            conflicts.append((port, have))
        else:
            abandoned.append((port, have))
    return act_on, conflicts, abandoned, taken_over


def conflict_message(conflicts):
    ports = ", ".join(str(port) for port, _have in conflicts)
    return (
        "tailscale serve already serves something this collection did not set up on %s: %s. Nothing was changed. "
        "Move that service to another port (tailscale serve --https=PORT off, then serve it elsewhere), or let the "
        "collection replace it: add the port to takeover_ports (caddy_tailscale_serve_takeover_ports in the "
        "caddy_tailscale role)" % (
            "port " + ports if len(conflicts) == 1 else "ports " + ports,
            "; ".join("port %d: %s" % (port, describe(have)) for port, have in conflicts),
        )
    )


def plan(current, desired, managed):
    """Actions that turn current into desired on the given ports only (the ones we may act on)."""
    actions = []
    for port in sorted(managed):
        have = current.get(port)
        want = desired.get(port)
        if want and have and have["kind"] == "proxy" and have["target"] == want["target"] \
                and have["funnel"] == want["funnel"]:
            continue
        # A plain "/" proxy is replaced in place (SetWebHandler overwrites "/"; the verb sets or clears
        # Funnel), so the port never goes dark; anything else is cleared first.
        if have and not (want and have["kind"] == "proxy"):
            actions.extend(_removal(port, have))
        if want:
            actions.append({"action": "set", "port": port, "funnel": want["funnel"], "target": want["target"]})
    return actions


CLAIM_TEXT = "text:joelclaw.macmini is clearing a stale funnel"


def command(binary, action):
    """The CLI call for one action.

    Flags go before the positional argument: the CLI parses them with Go's flag package, which stops at
    the first non-flag (so `off --yes` would be two arguments and refused). --bg keeps a set config after
    the command exits. --yes skips the "delete N handlers?" prompt, which before v1.90 answered "no"
    without a terminal (util/prompt). Removal always uses the serve verb: `tailscale funnel` first checks
    the node's Funnel capability and, without it, prints an enablement URL and exits 0 having done nothing
    (funnel.go verifyFunnelEnabled, tailscale v1.102.3).
    """
    port = action["port"]
    if action["action"] == "set":
        verb = "funnel" if action["funnel"] else "serve"
        return [binary, verb, "--bg", "--yes", "--https=%d" % port, action["target"]]
    if action["action"] == "claim":
        return [binary, "serve", "--bg", "--yes", "--http=%d" % port, CLAIM_TEXT]
    if action["flag"] == "tcp":
        return [binary, "serve", "--tcp=%d" % port, "off"]
    return [binary, "serve", "--yes", "--%s=%d" % (action["flag"], port), "off"]


def summary(entries, ports):
    """A stable, diff-friendly view of the managed ports."""
    out = {}
    for port in sorted(ports):
        entry = entries.get(port)
        if entry:
            out[str(port)] = {
                "target": entry["target"] if entry.get("kind", "proxy") == "proxy" else "(not a plain proxy)",
                "funnel": entry["funnel"],
            }
    return out


def explain_cli_error(stderr):
    """Map the CLI's funnel/HTTPS refusals to what to change; None for anything else."""
    text = stderr or ""
    low = text.lower()
    if "node attribute" in low or "funnel is not enabled" in low or "login.tailscale.com/f/funnel" in low:
        return "Funnel is not permitted for this node by the tailnet policy; " + POLICY_HINT
    if "https must be enabled" in low or "https cert support is not enabled" in low:
        return "Funnel needs HTTPS certificates; " + HTTPS_HINT
    if "not allowed for funnel" in low:
        return "the tailnet policy does not allow Funnel on this port (%s)" % text.strip()
    return None
