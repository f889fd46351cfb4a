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
TAILSCALE_SUFFIX = ".ts.net"
# bcrypt only looks at the first 72 bytes; a longer password would be silently truncated.
BCRYPT_MAX_BYTES = 72
LOOPBACK_RANGES = ("127.0.0.0/8", "::1/128")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_USER = re.compile(r"^[^\s:{}]+$")
_PATH_PREFIX = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*[^/]$")


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


def normalise_ranges(ranges):
    """Validate CIDR ranges; return them as strings, loopback always included."""
    problems = []
    out = []
    for value in list(ranges) + list(LOOPBACK_RANGES):
        try:
            net = str(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            problems.append(
                "tailnet_ranges: %r is not an IP range; expected CIDR notation such as 100.64.0.0/10" % (value,)
            )
            continue
        if net not in out:
            out.append(net)
    if problems:
        raise SiteError(problems)
    return out


def normalise_sites(sites):
    """Validate the site list and return normalised copies (passwords dropped).

    Raises SiteError with every problem found, so one run shows them all.
    """
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
            if "\n" in line or "{" in line and "}" not in line:
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
            "address": "https://%s:%s" % (host.lower(), port),
            "tls": tls,
            "upstream": raw.get("upstream"),
            "path_prefix": prefix,
            "tailnet_only": bool(raw.get("tailnet_only", False)),
            "basic_auth_user": user,
            "extra_directives": list(extra),
        })
    if problems:
        raise SiteError(problems)
    return result
