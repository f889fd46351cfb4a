# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST STAND-IN for a Convex site origin with Convex Auth's HTTP routes deployed. Tests only.

Beside convex_standin.py (which deploys no HTTP actions), this models the site origin of a
deployment whose app calls ``auth.addHttpRoutes(http)`` (upstream get-convex/convex-auth commit
b58a384, src/server/implementation/index.ts):

* GET /.well-known/openid-configuration -> 200 application/json
  {"issuer": CONVEX_SITE_URL, "jwks_uri": CONVEX_SITE_URL + "/.well-known/jwks.json",
   "authorization_endpoint": CONVEX_SITE_URL + "/oauth/authorize"}
* GET /.well-known/jwks.json -> 200, the deployment's JWKS variable verbatim;
* anything else -> 404 text/plain "No matching routes found": with an http.js deployed, a path it
  does not route is handed to the isolate, which answers so (convex-backend @ 652b828,
  crates/application/src/application_function_runner/http_routing.rs route_http_action, then
  crates/isolate/src/environment/action/mod.rs, HttpActionResponsePart::from_text).

The deployment variables are read live from the backend's admin API
(GET /api/list_environment_variables), so the routes answer with what was set there;
CONVEX_SITE_URL is built in on a real backend and is given here (--convex-site-url).
A variable that is missing makes the route fail with 500, as requireEnv throws.

    python3 convex_auth_site.py --port 3211 --backend-url http://127.0.0.1:3210 \
        --convex-site-url http://127.0.0.1:3211   (admin key in env ADMIN_KEY)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def deployment_env(backend_url, admin_key):
    request = urllib.request.Request(backend_url.rstrip("/") + "/api/list_environment_variables",
                                     headers={"Authorization": "Convex " + admin_key})
    with urllib.request.urlopen(request, timeout=10) as response:  # nosec - loopback test stand-in
        return json.loads(response.read().decode("utf-8"))["environmentVariables"]


class AuthSiteHandler(BaseHTTPRequestHandler):
    server_version = "convex-auth-site-standin"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _send(self, status, body, content_type):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urlsplit(self.path).path
        site = self.server.convex_site_url.rstrip("/")
        if path not in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
            return self._send(404, "No matching routes found", "text/plain; charset=utf-8")
        try:
            env = deployment_env(self.server.backend_url, self.server.admin_key)
        except Exception as exc:  # pylint: disable=broad-except
            return self._send(500, "stand-in: cannot read the deployment variables: %s" % exc, "text/plain")
        if path == "/.well-known/jwks.json":
            if "JWKS" not in env:
                return self._send(500, "Uncaught Error: Missing environment variable `JWKS`", "text/plain")
            return self._send(200, env["JWKS"], "application/json")
        return self._send(200, json.dumps({"issuer": site, "jwks_uri": site + "/.well-known/jwks.json",
                                           "authorization_endpoint": site + "/oauth/authorize"}), "application/json")


class AuthSite(object):
    """In-process use: AuthSite(backend_url, admin_key).start(); .url; .stop()."""

    def __init__(self, backend_url, admin_key, host="127.0.0.1", port=0, convex_site_url=None):
        self.server = ThreadingHTTPServer((host, port), AuthSiteHandler)
        self.server.daemon_threads = True
        self.server.backend_url, self.server.admin_key = backend_url, admin_key
        self.url = "http://%s:%d" % (host, self.server.server_address[1])
        self.server.convex_site_url = convex_site_url or self.url

    def start(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="TEST STAND-IN: a Convex site origin with Convex Auth's routes.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3211)
    parser.add_argument("--backend-url", default="http://127.0.0.1:3210")
    parser.add_argument("--convex-site-url", default=None, help="CONVEX_SITE_URL; default http://<host>:<port>")
    args = parser.parse_args(argv)
    admin_key = os.environ.get("ADMIN_KEY", "").strip()
    if not admin_key:
        parser.error("set ADMIN_KEY in the environment (an admin key of the backend)")
    site = AuthSite(args.backend_url, admin_key, host=args.host, port=args.port, convex_site_url=args.convex_site_url)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    site.start()
    sys.stderr.write("convex-auth-site (TEST STAND-IN) on %s for %s\n" % (site.url, args.backend_url))
    stop.wait()
    site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
