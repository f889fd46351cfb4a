# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_sites import (
    SiteError,
    normalise_ranges,
    normalise_sites,
)


def site(**overrides):
    base = {
        "name": "api",
        "host": "macmini.example-tailnet.ts.net",
        "port": 443,
        "tls": "tailscale",
        "upstream": "127.0.0.1:3210",
        "path_prefix": "",
        "tailnet_only": False,
        "basic_auth_user": "",
        "basic_auth_password": "",
        "extra_directives": [],
    }
    base.update(overrides)
    return base


def problems_for(*sites):
    with pytest.raises(SiteError) as info:
        normalise_sites(list(sites))
    return " | ".join(info.value.problems)


def test_the_default_layout_is_accepted_and_normalised():
    sites = normalise_sites([
        site(),
        site(name="site", port=8443, path_prefix="/http"),
        site(name="dashboard", host="MacMini.Example-Tailnet.ts.net", port=8444, upstream="127.0.0.1:6791",
             tailnet_only=True, basic_auth_user="joel", basic_auth_password="s3cret"),
    ])
    assert [s["address"] for s in sites] == [
        "https://macmini.example-tailnet.ts.net:443",
        "https://macmini.example-tailnet.ts.net:8443",
        "https://macmini.example-tailnet.ts.net:8444",
    ]
    assert sites[1]["path_prefix"] == "/http"
    assert sites[2]["tailnet_only"] is True
    assert all("basic_auth_password" not in s for s in sites)


def test_tailscale_mode_refuses_a_name_outside_ts_net_and_says_what_to_use():
    msg = problems_for(site(host="convex.joelclaw.com"))
    assert "convex.joelclaw.com" in msg
    assert "*.ts.net" in msg
    assert "tls: acme" in msg and "tls: internal" in msg


def test_acme_mode_refuses_a_ts_net_name():
    assert "use tls: tailscale" in problems_for(site(tls="acme"))


def test_acme_mode_refuses_a_name_no_public_ca_can_validate():
    assert "not a public DNS name" in problems_for(site(tls="acme", host="localhost"))


def test_unknown_tls_mode_lists_the_valid_ones():
    msg = problems_for(site(tls="letsencrypt"))
    assert "'letsencrypt'" in msg and "tailscale, acme, internal" in msg


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_ports_outside_the_tcp_range_are_refused(port):
    assert "is not a TCP port" in problems_for(site(port=port))


def test_missing_hostname_is_refused():
    assert "host is empty" in problems_for(site(host=""))


@pytest.mark.parametrize("host", ["https://macmini.example-tailnet.ts.net", "macmini.example-tailnet.ts.net:443"])
def test_host_with_scheme_or_port_is_refused(host):
    assert "bare hostname" in problems_for(site(host=host))


def test_invalid_dns_label_is_refused():
    assert "not a valid DNS name" in problems_for(site(host="bad_name.example-tailnet.ts.net"))


def test_ip_address_needs_internal_tls():
    assert "IP address" in problems_for(site(host="100.100.1.1"))
    assert normalise_sites([site(host="127.0.0.1", tls="internal")])[0]["address"] == "https://127.0.0.1:443"


@pytest.mark.parametrize("upstream", ["127.0.0.1", "localhost:http", ":3210", "127.0.0.1:70000"])
def test_malformed_upstreams_are_refused(upstream):
    assert "upstream" in problems_for(site(upstream=upstream))


def test_two_sites_on_the_same_address_are_refused():
    assert "already served by site 'api'" in problems_for(site(), site(name="site"))


def test_duplicate_names_are_refused():
    assert "names must be unique" in problems_for(site(), site(port=8443))


def test_basic_auth_needs_user_and_password():
    assert "got only the user" in problems_for(site(basic_auth_user="joel"))
    assert "got only the password" in problems_for(site(basic_auth_password="x"))


def test_password_over_72_bytes_is_refused_without_echoing_it():
    password = "é" * 40  # 80 bytes in UTF-8
    msg = problems_for(site(basic_auth_user="joel", basic_auth_password=password))
    assert "longer than 72 bytes" in msg
    assert password not in msg


@pytest.mark.parametrize("prefix", ["http", "/http/", "/ht tp"])
def test_bad_path_prefix_is_refused(prefix):
    assert "path_prefix" in problems_for(site(path_prefix=prefix))


def test_all_problems_are_reported_at_once():
    with pytest.raises(SiteError) as info:
        normalise_sites([site(host="example.com", port=0, upstream="nope")])
    assert len(info.value.problems) == 3


def test_empty_site_list_is_refused():
    with pytest.raises(SiteError, match="sites is empty"):
        normalise_sites([])


def test_ranges_always_include_loopback_and_reject_garbage():
    assert normalise_ranges(["100.64.0.0/10"]) == ["100.64.0.0/10", "127.0.0.0/8", "::1/128"]
    with pytest.raises(SiteError, match="not an IP range"):
        normalise_ranges(["100.64.0.0/33"])
