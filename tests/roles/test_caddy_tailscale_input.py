# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to caddy_tailscale fails with a clear message before any change.

Each case runs the real role (argument specs, then the caddy_sites check) with ansible-playbook.
"""
from __future__ import annotations

import copy

import pytest

PLAY = """
- hosts: localhost
  gather_facts: true
  roles:
    - role: joelclaw.macmini.caddy_tailscale
"""

GOOD_SITES = [
    {"name": "api", "host": "macmini.example-tailnet.ts.net", "port": 443, "tls": "tailscale",
     "upstream": "127.0.0.1:3210"},
    {"name": "site", "host": "macmini.example-tailnet.ts.net", "port": 8443, "tls": "tailscale",
     "upstream": "127.0.0.1:3210", "path_prefix": "/http"},
    {"name": "dashboard", "host": "macmini.example-tailnet.ts.net", "port": 8444, "tls": "tailscale",
     "upstream": "127.0.0.1:6791", "tailnet_only": True},
]


def sites_with(index, **change):
    sites = copy.deepcopy(GOOD_SITES)
    sites[index].update(change)
    for key in [k for k, v in change.items() if v is None]:
        del sites[index][key]
    return sites


CASES = {
    "non-ts.net host in tailscale mode": (
        {"caddy_tailscale_sites": sites_with(0, host="convex.joelclaw.com")},
        "Tailscale issues certificates only for *.ts.net",
    ),
    "ts.net host in acme mode": (
        {"caddy_tailscale_sites": sites_with(0, tls="acme")},
        "use tls: tailscale",
    ),
    "unknown TLS mode": (
        {"caddy_tailscale_sites": sites_with(1, tls="letsencrypt")},
        "letsencrypt",
    ),
    "port out of range": (
        {"caddy_tailscale_sites": sites_with(1, port=70000)},
        "is not a TCP port",
    ),
    "port not a number": (
        {"caddy_tailscale_sites": sites_with(1, port="https")},
        "port",
    ),
    "missing hostname": (
        {"caddy_tailscale_sites": sites_with(2, host=None)},
        "host",
    ),
    "empty hostname": (
        {"caddy_tailscale_sites": sites_with(2, host="")},
        "host is empty",
    ),
    "hostname with scheme": (
        {"caddy_tailscale_sites": sites_with(0, host="https://macmini.example-tailnet.ts.net")},
        "bare hostname",
    ),
    "upstream without port": (
        {"caddy_tailscale_sites": sites_with(0, upstream="127.0.0.1")},
        "is not host:port",
    ),
    "two sites on one address": (
        {"caddy_tailscale_sites": sites_with(1, port=443)},
        "already served by site 'api'",
    ),
    "basic auth user without password": (
        {"caddy_tailscale_sites": sites_with(2, basic_auth_user="joel")},
        "got only the user",
    ),
    "tailnet range not a CIDR": (
        {"caddy_tailscale_sites": GOOD_SITES, "caddy_tailscale_tailnet_ranges": ["100.64.0.0/99"]},
        "not an IP range",
    ),
    "Caddy older than 2.8": (
        {"caddy_tailscale_sites": GOOD_SITES, "caddy_tailscale_version": "2.6.2"},
        "set caddy_tailscale_version to 2.8.0 or later",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_any_change(run_playbook, case):
    extra_vars, expected = CASES[case]
    run = run_playbook(PLAY, extra_vars)
    assert run.rc != 0, run.output
    assert expected in run.output, run.output
    recap = run.recap()
    assert recap["failed"] == 1 and recap["changed"] == 0, run.output
    # Nothing past the checks ran: the first platform task never started.
    assert "Load the paths Caddy uses on this platform" not in run.output


def test_good_input_passes_the_checks(run_playbook):
    # The same play with valid sites gets past both checks (check mode: nothing is installed).
    run = run_playbook(PLAY, {"caddy_tailscale_sites": GOOD_SITES})
    assert "Load the paths Caddy uses on this platform" in run.output, run.output
