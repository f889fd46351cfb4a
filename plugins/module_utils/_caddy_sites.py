# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Validation and normalisation of the Caddy site list used by caddy_tailscale.

Pure functions, no I/O: the module wraps them and the unit tests call them directly.
Every error names the site, the field, the bad value, what was expected and what to do.
"""
from __future__ import absolute_import, annotations, division, print_function

import ipaddress
import re

TLS_MODES = ("tailscale", "acme", "internal")
# Who can reach a site, and through what:
#   funnel  - the internet, through Tailscale Funnel on the node's *.ts.net name; tailscaled terminates
#             TLS and proxies to a plain-HTTP Caddy listener bound to loopback (local_port).
#   public  - whoever can reach this Mac on the site's port (a custom domain with tls: acme and router
#             port forwards; or tls: internal in tests). Caddy terminates TLS on all interfaces.
#   tailnet - Caddy terminates TLS on loopback and this machine's Tailscale addresses only, and answers 403
#             outside the tailnet ranges and loopback.
REACHES = ("funnel", "public", "tailnet")
# Funnel accepts these public ports only (Tailscale's funnel-ports node capability, default policy).
FUNNEL_PORTS = (443, 8443, 10000)
TAILSCALE_SUFFIX = ".ts.net"
# bcrypt only looks at the first 72 bytes; a longer password would be silently truncated.
BCRYPT_MAX_BYTES = 72
LOOPBACK_RANGES = ("127.0.0.0/8", "::1/128")
# Where tailnet sites listen besides this machine's Tailscale addresses. A site address without `bind`
# listens on every interface, TCP and UDP (HTTP/3) alike (caddyserver/caddy v2.11.4
# caddyconfig/httpcaddyfile/addresses.go, modules/caddyhttp/app.go Start).
LOOPBACK_BIND = ("127.0.0.1", "::1")
# tailscaled's Serve/Funnel proxy connects to the funnel listeners from loopback and sets X-Forwarded-For
# (the visitor) and X-Forwarded-Proto: https (tailscale v1.102.3 ipn/ipnlocal/serve.go
# addProxyForwardedHeaders). Caddy replaces those headers unless the peer is a trusted proxy
# (caddy v2.11.4 modules/caddyhttp/reverseproxy/reverseproxy.go addForwardedHeaders).
FUNNEL_TRUSTED_PROXIES = ("127.0.0.1/32", "::1/128")

# \Z, never $: Python's $ also matches before a trailing newline, which would let "name\n" through.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")
# No whitespace, braces (Caddyfile blocks and {placeholders}), quotes, backslash or ':' (user:hash).
_USER = re.compile(r"^[^\s:{}\"'`\\]+\Z")
_PATH_PREFIX = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*[^/\s{}]\Z")
# Characters of a bare IP address or CIDR range. Python's ipaddress accepts an IPv6 zone id ("%anything",
# newlines and braces included), which would reach the Caddyfile verbatim: no zone ids here.
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.]+\Z")
_RANGE_CHARS = re.compile(r"^[0-9A-Fa-f:./]+\Z")
# Caddy's admin unix socket: "unix/" + an absolute path of plain characters (caddyserver/caddy v2.11.4
# listeners.go ParseNetworkAddress; the optional "|mode" suffix is not used).
_UNIX_ADMIN = re.compile(r"^unix/(/[A-Za-z0-9._@+,~-]+)+\Z")
# An ACME account address: plain local part and DNS domain, nothing the Caddyfile would read as syntax.
_EMAIL = re.compile(r"^[A-Za-z0-9._+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z")
# caddy.ParseDuration (caddyserver/caddy v2.11.4 caddy.go): Go's time.ParseDuration units (ns, us, µs, ms,
# s, m, h) plus d for days, numbers with an optional fraction; negative delays make no sense here.
_DURATION = re.compile(r"^(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h|d))+)\Z")


class SiteError(ValueError):
    """A list of human-readable problems with the site definitions."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(SiteError, self).__init__("; ".join(self.problems))


def is_hostname(value):
    """True for a bare DNS name (no scheme, port, path, wildcard or trailing dot)."""
    if not value or len(value) > 253 or value.endswith("."):
        return False
    return all(_LABEL.match(label) for label in value.lower().split("."))


def _is_ip(value):
    if not isinstance(value, str) or not _IP_CHARS.match(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_port(where, field, value, problems):
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        problems.append(
            "%s: %s=%r is not a TCP port; expected an integer from 1 to 65535" % (where, field, value)
        )
        return False
    return True


def _check_host(where, host, tls, problems):
    if not host:
        problems.append(
            "%s: host is empty; set it to the DNS name clients use (for tls: tailscale, "
            "your Mac's MagicDNS name, e.g. macmini.example-tailnet.ts.net)" % where
        )
        return
    if "://" in host or "/" in host or ":" in host:
        problems.append(
            "%s: host=%r must be a bare hostname without scheme, port or path; "
            "put the port in the site's 'port' field" % (where, host)
        )
        return
    lowered = host.lower()
    if _is_ip(host):
        if tls != "internal":
            problems.append(
                "%s: host=%r is an IP address, which neither Tailscale nor ACME can certify; "
                "use a DNS name, or tls: internal" % (where, host)
            )
        return
    if not is_hostname(lowered):
        problems.append(
            "%s: host=%r is not a valid DNS name (letters, digits and '-' in dot-separated labels, "
            "no wildcard, no trailing dot)" % (where, host)
        )
        return
    ts_name = lowered.endswith(TAILSCALE_SUFFIX)
    if tls == "tailscale" and not ts_name:
        problems.append(
            "%s: host=%r cannot use tls: tailscale. Tailscale issues certificates only for *.ts.net "
            "names (your node's MagicDNS name), and Caddy asks tailscaled for no other name. "
            "Use the node's *.ts.net name, or tls: acme for a public DNS name that reaches this Mac "
            "on ports 80/443, or tls: internal for Caddy's local CA" % (where, host)
        )
    elif tls == "acme" and ts_name:
        problems.append(
            "%s: host=%r is a *.ts.net name: Caddy always takes those certificates from tailscaled, "
            "never from an ACME CA; use tls: tailscale" % (where, host)
        )
    elif tls == "acme" and ("." not in lowered or lowered == "localhost" or lowered.endswith(".localhost")):
        problems.append(
            "%s: host=%r is not a public DNS name, so an ACME CA cannot validate it; "
            "use a public name, or tls: internal" % (where, host)
        )


def _check_upstream(where, upstream, problems):
    if not upstream or not isinstance(upstream, str):
        problems.append("%s: upstream is empty; expected host:port of the service to proxy to" % where)
        return
    host, sep, port = upstream.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        problems.append(
            "%s: upstream=%r is not host:port (e.g. 127.0.0.1:3210)" % (where, upstream)
        )
        return
    if not (_is_ip(host) or is_hostname(host.lower())):
        problems.append("%s: upstream=%r has an invalid host part %r" % (where, upstream, host))
    _check_port(where, "upstream port", int(port), problems)


def _is_loopback_host(host):
    if host.lower() == "localhost":
        return True
    if not _IP_CHARS.match(host.strip("[]")):
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_admin_address(address, allow_tcp=False):
    """Caddy's admin API can replace the whole config (caddyserver/caddy v2.11.4 admin.go handleLoad).

    Empty means the role's private unix socket (the default). A unix/ socket path is accepted; a loopback
    TCP address only with allow_tcp (every local user, and on the Mac every pod through Lima's host
    address, can reach loopback TCP; the admin endpoint's Host check is no authentication).
    Returns (address, warning or None); raises SiteError otherwise.
    """
    address = address or ""
    if not address.strip():
        return "", None
    if address.strip().lower() == "off":
        # caddy reload POSTs the new config to the admin endpoint (caddyserver/caddy v2.11.4
        # cmd/commandfuncs.go cmdReload, adminAPIRequest); with `admin off` there is none, so every
        # later change would be written but never loaded.
        raise SiteError([
            "caddy_tailscale_admin_address=%r turns Caddy's admin API off, but this role applies every "
            "Caddyfile change with `caddy reload`, which goes through that API (macOS handler and the "
            "systemd unit's ExecReload alike), so changes would be written and never loaded; leave it empty "
            "(the default: a unix socket in a private directory) or give a unix/ socket path" % (address,)
        ])
    if address.startswith("unix/"):
        if not _UNIX_ADMIN.match(address):
            raise SiteError([
                "caddy_tailscale_admin_address=%r is not a unix socket Caddy can take safely; expected unix/ and an "
                "absolute path of letters, digits and . _ - @ + , ~ (no whitespace, braces, quotes or %%), "
                "e.g. unix//opt/homebrew/var/lib/caddy-tailscale/admin.sock" % (address,)
            ])
        return address, None
    host, sep, port = address.rpartition(":")
    if sep and re.match(r"^[0-9]{1,5}\Z", port) and _is_loopback_host(host):
        if not allow_tcp:
            raise SiteError([
                "caddy_tailscale_admin_address=%r puts Caddy's admin API on TCP, where any local process can "
                "replace the whole config (POST /load with a forged Host header): every other user of this Mac and "
                "every pod or container in the Colima VM (through Lima's host address 192.168.5.2). Leave it empty "
                "for the default unix socket in a private directory, or, knowing that, set "
                "caddy_tailscale_admin_tcp: true" % (address,)
            ])
        return address, (
            "Caddy's admin API listens on TCP %s (caddy_tailscale_admin_tcp: true): any local process, other "
            "users and, on the Mac, pods through Lima's host address, can replace Caddy's whole config, e.g. "
            "turn the Funnel listener into a file server. Prefer the default unix socket." % address)
    raise SiteError([
        "caddy_tailscale_admin_address=%r would expose Caddy's admin API, which can replace the whole "
        "config, beyond this machine; leave it empty for the default unix socket, or give a unix/ socket path "
        "(a loopback TCP address such as localhost:2019 needs caddy_tailscale_admin_tcp: true)" % (address,)
    ])


def check_acme_email(email):
    """The ACME account e-mail: empty, or a plain address (it is written into the Caddyfile)."""
    if email in (None, "") or _EMAIL.match(email):
        return email or ""
    raise SiteError([
        "caddy_tailscale_acme_email=%r is not a plain e-mail address; expected e.g. ops@joelclaw.com (letters, "
        "digits and . _ + - before the @, a DNS name after it; no whitespace, braces or quotes), or empty" % (email,)
    ])


def check_duration(value):
    """stream_close_delay: a Caddy duration (caddy.ParseDuration), such as 5m, 90s, 1h30m or 1d."""
    if isinstance(value, str) and _DURATION.match(value):
        return value
    raise SiteError([
        "caddy_tailscale_stream_close_delay=%r is not a Caddy duration; expected a number with a unit "
        "(ns, us, ms, s, m, h or d), e.g. 5m, 90s or 1h30m" % (value,)
    ])


def normalise_tailnet_addresses(addresses, ranges):
    """This machine's Tailscale addresses, where tailnet sites listen besides loopback.

    Each must be a single IP inside the tailnet ranges (not loopback); returns canonical strings.
    """
    problems = []
    out = []
    networks = [ipaddress.ip_network(r, strict=False) for r in ranges]
    for value in addresses or []:
        text = str(value).strip()
        try:
            if not _IP_CHARS.match(text):
                raise ValueError(text)
            address = ipaddress.ip_address(text)
        except ValueError:
            problems.append(
                "tailnet_addresses: %r is not an IP address; expected this machine's Tailscale addresses as "
                "`tailscale ip` prints them (e.g. 100.101.102.103), without a zone id" % (value,)
            )
            continue
        if address.is_loopback or not any(address.version == n.version and address in n for n in networks):
            problems.append(
                "tailnet_addresses: %s is not inside the tailnet ranges %s; the tailnet-only sites would "
                "listen beyond the tailnet. Use the addresses `tailscale ip` prints"
                % (address, ", ".join(str(n) for n in networks if not n.is_loopback))
            )
            continue
        if str(address) not in out:
            out.append(str(address))
    if problems:
        raise SiteError(problems)
    return out


def normalise_ranges(ranges):
    """Validate CIDR ranges; return them as strings, loopback always included."""
    problems = []
    out = []
    for value in list(ranges) + list(LOOPBACK_RANGES):
        try:
            if not _RANGE_CHARS.match(str(value)):
                raise ValueError(value)
            net = str(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            problems.append(
                "tailnet_ranges: %r is not an IP range; expected CIDR notation such as 100.64.0.0/10 "
                "(no zone id, no whitespace)" % (value,)
            )
            continue
        if net not in out:
            out.append(net)
    if problems:
        raise SiteError(problems)
    return out


def _check_reach(where, name, raw, host, tls, port, private_sites, problems):
    """Check a site's reach against its host, TLS mode and port; return the effective reach."""
    tailnet_only = bool(raw.get("tailnet_only", False))
    reach = raw.get("reach") or ("tailnet" if tailnet_only else "public")
    if reach not in REACHES:
        problems.append(
            "%s: reach=%r is not a reach mode; expected one of %s (funnel: the internet through Tailscale "
            "Funnel; public: whoever reaches this Mac's port, e.g. a custom domain with tls: acme; "
            "tailnet: tailnet devices only)" % (where, reach, ", ".join(REACHES))
        )
        return reach
    if name in private_sites and reach != "tailnet":
        problems.append(
            "%s: reach=%r would put %r on the internet, but it is listed in private_sites (the dashboard "
            "holds admin access to the deployment). Keep reach: tailnet; visitors need only the api and "
            "site hosts" % (where, reach, name)
        )
    if tailnet_only and reach != "tailnet":
        problems.append(
            "%s: tailnet_only=true contradicts reach=%r; drop tailnet_only and use reach: tailnet for a "
            "private site" % (where, reach)
        )
    ts_name = host.lower().endswith(TAILSCALE_SUFFIX)
    if reach == "funnel":
        if host and not ts_name:
            problems.append(
                "%s: reach: funnel with host=%r: Tailscale Funnel publishes only the node's own *.ts.net "
                "name. Use host: <your node>.ts.net (convex_tailnet_hostname), or reach: public with "
                "tls: acme for a custom domain (public DNS pointing at this Mac, router forwarding 80 and "
                "443)" % (where, host)
            )
        if tls != "tailscale":
            problems.append(
                "%s: reach: funnel with tls=%r: tailscaled terminates TLS for Funnel with the node's "
                "Tailscale certificate; set tls: tailscale" % (where, tls)
            )
        if isinstance(port, int) and port not in FUNNEL_PORTS:
            problems.append(
                "%s: reach: funnel with port=%r: Funnel listens only on ports %s; pick one of those "
                "(api 443, site 8443 by default)" % (where, port, ", ".join(str(p) for p in FUNNEL_PORTS))
            )
        local_port = raw.get("local_port")
        if local_port in (None, "", 0):
            problems.append(
                "%s: reach: funnel needs local_port, the loopback port of the plain-HTTP Caddy listener "
                "that tailscaled proxies to (e.g. 8780)" % where
            )
        else:
            _check_port(where, "local_port", local_port, problems)
    elif reach == "public" and ts_name:
        problems.append(
            "%s: reach: public with host=%r: a *.ts.net name is reachable from the internet only through "
            "Tailscale Funnel. Use reach: funnel (ports %s), reach: tailnet for tailnet devices only, or "
            "a custom domain with tls: acme" % (where, host, ", ".join(str(p) for p in FUNNEL_PORTS))
        )
    return reach


def normalise_sites(sites, private_sites=(), tailnet_addresses=()):
    """Validate the site list and return normalised copies (passwords dropped).

    tailnet_addresses (already checked) are where tailnet sites listen besides loopback.
    Raises SiteError with every problem found, so one run shows them all.
    """
    private_sites = set(private_sites or ())
    problems = []
    seen_names = set()
    seen_addresses = {}
    result = []
    if not sites:
        raise SiteError(["sites is empty; expected at least one site (api, site, dashboard)"])
    for index, raw in enumerate(sites):
        name = raw.get("name") or ""
        where = "sites[%d] (%s)" % (index, name or "unnamed")
        if not _NAME.match(name):
            problems.append(
                "%s: name=%r must be a short lowercase identifier (a-z, 0-9, '-', '_')" % (where, name)
            )
        elif name in seen_names:
            problems.append("%s: name=%r is used by another site; names must be unique" % (where, name))
        seen_names.add(name)

        tls = raw.get("tls")
        if tls not in TLS_MODES:
            problems.append(
                "%s: tls=%r is not a TLS mode; expected one of %s" % (where, tls, ", ".join(TLS_MODES))
            )
        host = (raw.get("host") or "").strip()
        _check_host(where, host, tls, problems)
        port = raw.get("port", 443)
        port_ok = _check_port(where, "port", port, problems)
        reach = _check_reach(where, name, raw, host, tls, port, private_sites, problems)
        _check_upstream(where, raw.get("upstream"), problems)

        prefix = raw.get("path_prefix") or ""
        if prefix and not _PATH_PREFIX.match(prefix):
            problems.append(
                "%s: path_prefix=%r must start with '/' and not end with '/' (e.g. /http)" % (where, prefix)
            )

        user = raw.get("basic_auth_user") or ""
        password = raw.get("basic_auth_password") or ""
        if bool(user) != bool(password):
            problems.append(
                "%s: basic auth needs both basic_auth_user and basic_auth_password "
                "(got only the %s); set both, or neither to disable it"
                % (where, "user" if user else "password")
            )
        if user and not _USER.match(user):
            problems.append("%s: basic_auth_user=%r may not contain spaces, ':' or braces" % (where, user))
        if password and len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
            # The value itself is never echoed.
            problems.append(
                "%s: basic_auth_password is longer than %d bytes, which bcrypt would silently truncate; "
                "use a shorter password" % (where, BCRYPT_MAX_BYTES)
            )

        extra = raw.get("extra_directives") or []
        for line in extra:
            if "\n" in line or "\r" in line or line.count("{") != line.count("}"):
                problems.append(
                    "%s: extra_directives entry %r must be one complete Caddyfile line" % (where, line)
                )

        if host and port_ok:
            address = host.lower() if not _is_ip(host) else host
            key = (address, port)
            if key in seen_addresses:
                problems.append(
                    "%s: %s:%s is already served by site %r; give each site its own host or port"
                    % (where, address, port, seen_addresses[key])
                )
            seen_addresses[key] = name
        result.append({
            "name": name,
            "host": host.lower(),
            "port": port,
            # Funnel sites: tailscaled terminates TLS; Caddy listens in plain HTTP on loopback only.
            "address": ("http://:%s" % raw.get("local_port") if reach == "funnel"
                        else "https://%s:%s" % (host.lower(), port)),
            "tls": tls,
            "upstream": raw.get("upstream"),
            "path_prefix": prefix,
            "tailnet_only": reach == "tailnet",
            "reach": reach,
            "local_port": raw.get("local_port") if reach == "funnel" else None,
            # Funnel sites: loopback only (tailscaled is the client). Tailnet sites: loopback and this
            # machine's Tailscale addresses, never every interface. Public sites: every interface.
            "bind": (["127.0.0.1"] if reach == "funnel"
                     else list(LOOPBACK_BIND) + list(tailnet_addresses) if reach == "tailnet" else []),
            "listen": "127.0.0.1:%s" % raw.get("local_port") if reach == "funnel" else "",
            "trusted_proxies": list(FUNNEL_TRUSTED_PROXIES) if reach == "funnel" else [],
            "basic_auth_user": user,
            "extra_directives": list(extra),
        })
    if not problems:
        _check_listeners(result, problems)
    if problems:
        raise SiteError(problems)
    return result


def _check_listeners(sites, problems):
    """Caddy's listeners must not collide with each other, with Funnel, or with the upstreams."""
    funnel = dict(((s["host"], s["port"]), s["name"]) for s in sites if s["reach"] == "funnel")
    funnel_hosts = sorted(set(host for host, _port in funnel))
    if len(funnel_hosts) > 1:
        problems.append(
            "reach: funnel is used with hosts %s; Funnel publishes one node's name only, so every funnel "
            "site must use the same host (convex_tailnet_hostname)" % ", ".join(funnel_hosts)
        )
    funnel_ports = dict((port, name) for (_host, port), name in funnel.items())
    upstream_ports = set(int(s["upstream"].rpartition(":")[2]) for s in sites)
    caddy_ports = {}
    for s in sites:
        if s["reach"] == "funnel":
            continue
        caddy_ports.setdefault(s["port"], s["name"])
        if s["host"].endswith(TAILSCALE_SUFFIX) and s["port"] in funnel_ports:
            problems.append(
                "%s: port %d is the Funnel port of site %r; tailscaled intercepts it on the node's "
                "Tailscale IP, so Caddy would never see this site's tailnet traffic. Give it a port "
                "Funnel does not use (8444 for the dashboard)" % (s["name"], s["port"], funnel_ports[s["port"]])
            )
    seen_local = {}
    for s in sites:
        if s["reach"] != "funnel":
            continue
        local = s["local_port"]
        if local in seen_local:
            problems.append(
                "%s: local_port %d is already the loopback listener of site %r; give each funnel site its "
                "own local_port" % (s["name"], local, seen_local[local])
            )
        elif local in caddy_ports:
            problems.append(
                "%s: local_port %d is also the port of Caddy site %r; pick a free loopback port"
                % (s["name"], local, caddy_ports[local])
            )
        elif local in upstream_ports:
            problems.append(
                "%s: local_port %d is an upstream's port (the backend or dashboard listens there); pick a "
                "free loopback port such as 8780" % (s["name"], local)
            )
        seen_local[local] = s["name"]


def plan_reach(sites):
    """What tailscaled must serve, and who reaches what, for sites already normalised.

    Returns a dict:
      serve_host     - the *.ts.net name Funnel publishes (or, without funnel sites, the first *.ts.net
                       site host; "" when no site uses a *.ts.net name)
      serve          - [{port, target, funnel, site}] for tailscale serve/funnel
      managed_ports  - ports besides serve's that must hold no foreign serve handler: every port Caddy
                       serves itself on a *.ts.net name (a serve entry there would shadow Caddy). Funnel ports
                       the sites do not use stay the owner's; tailscale_serve's ledger finds the collection's
                       earlier funnels there.
      reach_table    - one row per site for the README-style report
    """
    serve = []
    serve_host = ""
    managed = set()
    table = []
    for s in sites:
        origin = "https://%s" % s["host"] if s["port"] == 443 else "https://%s:%d" % (s["host"], s["port"])
        if s["reach"] == "funnel":
            serve_host = s["host"]
            target = "http://127.0.0.1:%d" % s["local_port"]
            serve.append({"port": s["port"], "target": target, "funnel": True, "site": s["name"]})
            via = "Tailscale Funnel (tailscaled, TLS) -> Caddy %s -> %s%s" % (target, s["upstream"], s["path_prefix"])
            who = "anyone on the internet"
        else:
            if s["host"].endswith(TAILSCALE_SUFFIX):
                managed.add(s["port"])
            via = "Caddy (%s TLS) -> %s%s" % (s["tls"], s["upstream"], s["path_prefix"])
            if s["reach"] == "tailnet":
                who = "tailnet devices and this machine only (listens on %s; 403 from outside the tailnet ranges)" \
                    % " ".join(s["bind"])
            else:
                who = "whoever reaches this machine on port %d" % s["port"]
        table.append({"site": s["name"], "url": origin, "reach": s["reach"], "who": who, "via": via})
    if not serve_host:
        # No funnel site: still the node name, so stale funnels can be cleared and Caddy's ports kept free.
        serve_host = next((s["host"] for s in sites if s["host"].endswith(TAILSCALE_SUFFIX)), "")
    return {
        "serve_host": serve_host,
        "serve": sorted(serve, key=lambda e: e["port"]),
        "managed_ports": sorted(managed),
        "reach_table": table,
    }


# The options of joelclaw.macmini.caddy_site_plan, shared by the module (plugins/modules/caddy_site_plan.py,
# which documents them) and its action plugin (plugins/action/caddy_site_plan.py, which plans on the
# controller: planning reads nothing from the host, so it needs no round trip to it).
ARGUMENT_SPEC = dict(
    sites=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            name=dict(type="str", required=True),
            host=dict(type="str", required=True),
            port=dict(type="int", default=443),
            tls=dict(type="str", required=True, choices=list(TLS_MODES)),
            upstream=dict(type="str", required=True),
            path_prefix=dict(type="str", default=""),
            tailnet_only=dict(type="bool", default=False),
            reach=dict(type="str", choices=list(REACHES)),
            local_port=dict(type="int"),
            basic_auth_user=dict(type="str", default=""),
            basic_auth_password=dict(type="str", default="", no_log=True),
            extra_directives=dict(type="list", elements="str", default=[]),
        ),
    ),
    tailnet_ranges=dict(type="list", elements="str", default=["100.64.0.0/10", "fd7a:115c:a1e0::/48"]),
    private_sites=dict(type="list", elements="str", default=["dashboard"]),
    tailnet_addresses=dict(type="list", elements="str", default=[]),
    admin_address=dict(type="str"),
    admin_tcp=dict(type="bool", default=False),
    acme_email=dict(type="str"),
    stream_close_delay=dict(type="str"),
)


def plan_sites(params):
    """Check and plan validated caddy_site_plan options. Returns (result, warnings); raises SiteError with
    every problem found. The result never holds a basic-auth password."""
    problems = []
    warnings = []
    sites = ranges = None
    addresses = []
    try:
        ranges = normalise_ranges(params["tailnet_ranges"])
        addresses = normalise_tailnet_addresses(params["tailnet_addresses"], ranges)
    except SiteError as exc:
        problems.extend(exc.problems)
    try:
        sites = normalise_sites(params["sites"], params["private_sites"], addresses)
    except SiteError as exc:
        problems.extend(exc.problems)
    if params["admin_address"] is not None:
        try:
            warning = check_admin_address(params["admin_address"], params["admin_tcp"])[1]
            if warning:
                warnings.append(warning)
        except SiteError as exc:
            problems.extend(exc.problems)
    for name, check in (("acme_email", check_acme_email), ("stream_close_delay", check_duration)):
        if params[name] is not None:
            try:
                check(params[name])
            except SiteError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SiteError(problems)
    result = dict(
        sites=sites,
        tailnet_ranges=ranges,
        tailnet_addresses=addresses,
        tls_modes=sorted(set(site["tls"] for site in sites if site["reach"] != "funnel")),
    )
    result.update(plan_reach(sites))
    return result, warnings
