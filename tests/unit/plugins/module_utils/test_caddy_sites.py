# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_sites import (
    SiteError,
    check_acme_email,
    check_admin_address,
    check_duration,
    normalise_ranges,
    normalise_sites,
    normalise_tailnet_addresses,
    plan_reach,
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
        "reach": "tailnet",
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


def default_layout():
    return [
        site(reach="funnel", local_port=8780),
        site(name="site", port=8443, path_prefix="/http", reach="funnel", local_port=8781),
        site(name="dashboard", host="MacMini.Example-Tailnet.ts.net", port=8444, upstream="127.0.0.1:6791",
             reach="tailnet", basic_auth_user="joel", basic_auth_password="s3cret"),
    ]


def test_the_default_layout_is_accepted_and_normalised():
    sites = normalise_sites(default_layout(), private_sites=["dashboard"])
    # Funnel sites: plain HTTP on loopback behind tailscaled; the dashboard: Caddy TLS on the node name.
    assert [s["address"] for s in sites] == [
        "http://:8780",
        "http://:8781",
        "https://macmini.example-tailnet.ts.net:8444",
    ]
    assert sites[1]["path_prefix"] == "/http"
    assert [s["tailnet_only"] for s in sites] == [False, False, True]
    assert all("basic_auth_password" not in s for s in sites)


def test_the_reach_plan_funnels_api_and_site_and_keeps_the_dashboard_ports_clear():
    plan = plan_reach(normalise_sites(default_layout()))
    assert plan["serve_host"] == "macmini.example-tailnet.ts.net"
    assert plan["serve"] == [
        {"port": 443, "target": "http://127.0.0.1:8780", "funnel": True, "site": "api"},
        {"port": 8443, "target": "http://127.0.0.1:8781", "funnel": True, "site": "site"},
    ]
    # Only Caddy's own port on the node's name besides the served ones: 10000 (Funnel's third port) may be
    # the owner's, and the collection's earlier funnels are found through tailscale_serve's ledger.
    assert plan["managed_ports"] == [8444]
    rows = dict((row["site"], row) for row in plan["reach_table"])
    assert rows["api"]["url"] == "https://macmini.example-tailnet.ts.net"
    assert rows["site"]["url"] == "https://macmini.example-tailnet.ts.net:8443"
    assert rows["dashboard"]["reach"] == "tailnet" and "403" in rows["dashboard"]["who"]


def test_a_custom_domain_plan_funnels_nothing():
    plan = plan_reach(normalise_sites([
        site(host="convex.joelclaw.com", tls="acme", reach="public"),
        site(name="dashboard", port=8444, upstream="127.0.0.1:6791"),
    ]))
    assert plan["serve"] == [] and plan["serve_host"] == "macmini.example-tailnet.ts.net"
    assert plan["managed_ports"] == [8444]


def test_the_dashboard_may_not_be_public():
    for reach in ("funnel", "public"):
        layout = default_layout()
        layout[2].update(reach=reach, local_port=8782, tls="tailscale")
        msg = problems_for_private(*layout)
        assert "reach=%r would put 'dashboard' on the internet" % reach in msg
        assert "Keep reach: tailnet" in msg


@pytest.mark.parametrize("port", [80, 8080, 8444, 10001])
def test_funnel_ports_outside_443_8443_10000_are_refused(port):
    msg = problems_for(site(reach="funnel", local_port=8780, port=port))
    assert "port=%d: Funnel listens only on ports 443, 8443, 10000" % port in msg


def test_funnel_needs_the_node_name_tailscale_tls_and_a_local_port():
    msg = problems_for(site(reach="funnel", host="convex.joelclaw.com", tls="acme", local_port=8780))
    assert "Funnel publishes only the node's own *.ts.net name" in msg and "reach: public with tls: acme" in msg
    assert "set tls: tailscale" in problems_for(site(reach="funnel", tls="internal", local_port=8780))
    assert "needs local_port" in problems_for(site(reach="funnel"))


def test_a_ts_net_name_cannot_be_public_without_funnel():
    msg = problems_for(site(reach="public"))
    assert "reachable from the internet only through Tailscale Funnel" in msg


def test_a_custom_domain_with_tailscale_tls_is_refused_in_any_reach():
    for reach in ("public", "tailnet"):
        assert "Tailscale issues certificates only for *.ts.net" in problems_for(
            site(host="convex.joelclaw.com", reach=reach))


def test_a_tailnet_site_on_a_funnel_port_of_the_node_name_is_refused():
    # tailscaled would intercept 8443 on the Tailscale IP: Caddy's tailnet site there would never be reached.
    msg = problems_for(site(name="site", port=8443, reach="funnel", local_port=8781),
                       site(name="dashboard", port=8443, upstream="127.0.0.1:6791"))
    assert "macmini.example-tailnet.ts.net:8443 is already served by site 'site'" in msg


def test_local_port_collisions_are_refused():
    assert "already the loopback listener of site 'api'" in problems_for(
        site(reach="funnel", local_port=8780), site(name="site", port=8443, reach="funnel", local_port=8780))
    assert "is an upstream's port" in problems_for(site(reach="funnel", local_port=3210))
    assert "is also the port of Caddy site 'dashboard'" in problems_for(
        site(reach="funnel", local_port=8444), site(name="dashboard", port=8444, upstream="127.0.0.1:6791"))


def test_funnel_sites_must_share_one_node_name():
    msg = problems_for(site(reach="funnel", local_port=8780),
                       site(name="site", host="other.example-tailnet.ts.net", port=8443, reach="funnel",
                            local_port=8781))
    assert "every funnel site must use the same host" in msg


def test_tailnet_only_contradicting_reach_is_refused():
    assert "contradicts reach='funnel'" in problems_for(site(reach="funnel", local_port=8780, tailnet_only=True))


def test_reach_defaults_from_tailnet_only():
    sites = normalise_sites([site(reach=None, tailnet_only=True)])
    assert sites[0]["reach"] == "tailnet"
    assert "reach: public with host" in problems_for(site(reach=None))


@pytest.mark.parametrize("address", ["", "unix//run/caddy.sock"])
def test_unix_socket_admin_addresses_are_accepted_without_a_warning(address):
    assert check_admin_address(address) == (address, None)


@pytest.mark.parametrize("address", ["localhost:2019", "127.0.0.1:2019", "[::1]:2019"])
def test_loopback_tcp_admin_addresses_need_the_opt_in_and_warn(address):
    with pytest.raises(SiteError) as info:
        check_admin_address(address)
    assert "puts Caddy's admin API on TCP" in info.value.problems[0]
    assert "caddy_tailscale_admin_tcp: true" in info.value.problems[0]
    accepted, warning = check_admin_address(address, allow_tcp=True)
    assert accepted == address
    assert "Caddy's admin API listens on TCP %s" % address in warning


@pytest.mark.parametrize("address", [":2019", "0.0.0.0:2019", "100.101.102.103:2019", "macmini.example-tailnet.ts.net:2019"])
def test_admin_addresses_beyond_loopback_are_refused(address):
    with pytest.raises(SiteError) as info:
        check_admin_address(address, allow_tcp=True)
    assert "caddy_tailscale_admin_address=%r" % address in info.value.problems[0]


@pytest.mark.parametrize("address", ["off", " off ", "OFF"])
def test_admin_off_is_refused_because_reloads_go_through_the_admin_api(address):
    # caddy reload (the macOS handler and the systemd unit's ExecReload) POSTs to the admin endpoint.
    with pytest.raises(SiteError) as info:
        check_admin_address(address)
    assert "turns Caddy's admin API off" in info.value.problems[0]
    assert "caddy reload" in info.value.problems[0]


def problems_for_private(*sites):
    with pytest.raises(SiteError) as info:
        normalise_sites(list(sites), private_sites=["dashboard"])
    return " | ".join(info.value.problems)


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


RANGES = ["100.64.0.0/10", "fd7a:115c:a1e0::/48", "127.0.0.0/8", "::1/128"]


def test_tailnet_sites_bind_loopback_and_the_tailscale_addresses_funnel_sites_trust_loopback():
    addresses = normalise_tailnet_addresses(["100.101.102.103", "fd7a:115c:a1e0:0::1234:5678"], RANGES)
    assert addresses == ["100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
    sites = normalise_sites(default_layout(), private_sites=["dashboard"], tailnet_addresses=addresses)
    api, site_, dashboard = sites
    assert dashboard["bind"] == ["127.0.0.1", "::1", "100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
    assert dashboard["trusted_proxies"] == [] and dashboard["listen"] == ""
    assert api["bind"] == ["127.0.0.1"] and api["listen"] == "127.0.0.1:8780"
    assert api["trusted_proxies"] == site_["trusted_proxies"] == ["127.0.0.1/32", "::1/128"]
    # Without Tailscale addresses a tailnet site is loopback only, never every interface.
    assert normalise_sites(default_layout())[2]["bind"] == ["127.0.0.1", "::1"]
    # A public site (custom domain) listens on every interface, as before.
    assert normalise_sites([site(host="convex.joelclaw.com", tls="acme", reach="public")])[0]["bind"] == []


@pytest.mark.parametrize("address, expected", [
    ("192.168.1.5", "is not inside the tailnet ranges"),
    ("127.0.0.1", "is not inside the tailnet ranges"),
    ("fd00::1", "is not inside the tailnet ranges"),
    ("macmini", "is not an IP address"),
    ("100.64.0.0/10", "is not an IP address"),
])
def test_tailnet_addresses_outside_the_tailnet_are_refused(address, expected):
    with pytest.raises(SiteError) as info:
        normalise_tailnet_addresses([address], RANGES)
    assert expected in info.value.problems[0]


# Issue 16 finding 5: values that used to pass and inject Caddyfile syntax.
INJECT = "\n}\nhttp://127.0.0.1:9 {\n\trespond injected\n}\n(rest) {"


@pytest.mark.parametrize("address", ["unix//run/caddy.sock" + INJECT, "unix//run/caddy sock", "unix/relative.sock",
                                     "unix//run/{$HOME}.sock", "unix//run/%h.sock", "[::1%lo" + INJECT + "]:2019",
                                     "localhost:2019\n"])
def test_admin_addresses_with_syntax_are_refused(address):
    with pytest.raises(SiteError) as info:
        check_admin_address(address, allow_tcp=True)
    assert "caddy_tailscale_admin_address=%r" % address in info.value.problems[0]


@pytest.mark.parametrize("email", ["ops@joelclaw.com" + INJECT, 'ops"@joelclaw.com', "ops@joelclaw.com\n", "{$EMAIL}",
                                   "ops@joel claw.com", "ops%x@joelclaw.com", "no-at-sign"])
def test_acme_emails_with_syntax_are_refused(email):
    with pytest.raises(SiteError) as info:
        check_acme_email(email)
    assert "caddy_tailscale_acme_email=%r" % email in info.value.problems[0]


@pytest.mark.parametrize("email", ["", "ops@joelclaw.com", "first.last+acme@mail.example.org"])
def test_plain_acme_emails_pass(email):
    assert check_acme_email(email) == email


@pytest.mark.parametrize("value", ["5m\n}" + INJECT, "{$DELAY}", "5 m", "-5m", "5", "5x", "5m\n", ""])
def test_durations_that_caddy_would_not_parse_or_that_inject_are_refused(value):
    with pytest.raises(SiteError) as info:
        check_duration(value)
    assert "caddy_tailscale_stream_close_delay=%r" % value in info.value.problems[0]


@pytest.mark.parametrize("value", ["0", "5m", "90s", "1h30m", "1.5h", "1d", "250ms", "2d12h"])
def test_caddy_durations_pass(value):
    # caddy.ParseDuration (caddyserver/caddy v2.11.4 caddy.go): Go units plus d.
    assert check_duration(value) == value


def test_ipv6_zone_ids_are_refused_in_tailnet_addresses_and_ranges():
    with pytest.raises(SiteError) as info:
        normalise_tailnet_addresses(["fd7a:115c:a1e0::1%x" + INJECT], ["fd7a:115c:a1e0::/48"])
    assert "without a zone id" in info.value.problems[0]
    with pytest.raises(SiteError) as info:
        normalise_ranges(["fd7a:115c:a1e0::%x" + INJECT + "/48"])
    assert "no zone id" in info.value.problems[0]


@pytest.mark.parametrize("field,value", [("name", "api\n"), ("path_prefix", "/http\n"), ("basic_auth_user", 'jo"el'),
                                         ("upstream", "[::1%x" + INJECT + "]:3210"), ("host", "convex.test\n")])
def test_site_fields_with_a_trailing_newline_or_syntax_are_refused(field, value):
    extra = {"basic_auth_password": "pw"} if field == "basic_auth_user" else {}
    assert problems_for(site(**dict(extra, **{field: value}))), (field, value)
