# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""One HTTP client for a self-hosted Convex backend (shared reference section 2).

* ``Authorization: Convex <admin key>`` on every admin route;
* a timeout on every request, retries only where repeating cannot change state
  (GETs and read-only system queries; any request the server never received);
* every failure becomes a ConvexError whose message says what failed and what to
  do; no message ever contains the admin key or a response body that could hold
  secrets (environment variable values);
* the HTTP transport is injected: modules pass ansible.module_utils.urls.open_url (through
  _convex_connection.connect), the scheduled backup and health jobs use urllib_open below.

Standard library only, with no Ansible import: the scheduled jobs import this file as it is.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import struct
import time
import urllib.request

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit


USER_AGENT = "joelclaw.macmini-convex"
CLIENT_HEADER = "ansible-joelclaw.macmini"
RETRY_STATUSES = (502, 503, 504)
UDF_FAILED_STATUS = 560


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """follow_redirects='none': a 3xx is an HTTPError, as with Ansible's open_url."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_CONTEXTS = {}


def tls_context(validate_certs, ca_path):
    """One SSL context per trust setting: loading the trust store is the slow part of a request."""
    key = (bool(validate_certs), ca_path)
    if key not in _CONTEXTS:
        context = ssl.create_default_context(cafile=ca_path)
        if not validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _CONTEXTS[key] = context
    return _CONTEXTS[key]


def urllib_open(url, data=None, headers=None, method=None, use_proxy=True, timeout=10, validate_certs=True,
                http_agent=None, follow_redirects="urllib2", ca_path=None, **_ignored):
    """The standard-library transport: the keywords of ansible.module_utils.urls.open_url that
    this client and the health probes pass, with its meaning (HTTPError for a status >= 400,
    URLError for the transport; no redirects with follow_redirects='none')."""
    handlers = []
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=tls_context(validate_certs, ca_path)))
    if not use_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    if follow_redirects in ("none", False, "no"):
        handlers.append(_NoRedirect())
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    request.add_header("User-Agent", http_agent or USER_AGENT)
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


class ConvexError(Exception):
    """A Convex call failed. ``kind`` is one of: auth, forbidden, http, unreachable,
    timeout, tls, malformed, function, state, config."""

    def __init__(self, message, kind="http", status=None, code=None):
        super(ConvexError, self).__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.code = code

    def to_dict(self):
        return {"kind": self.kind, "status": self.status, "code": self.code, "message": self.message}


def int64(value):
    """An int from a Convex int64 in any encoding: int, decimal string (format
    "json") or {"$integer": base64 little-endian} (convex_encoded_json)."""
    if isinstance(value, bool):
        raise ValueError("not an int64: boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value)
    if isinstance(value, dict) and "$integer" in value:
        return struct.unpack("<q", base64.b64decode(value["$integer"]))[0]
    raise ValueError("not an int64: %r" % (type(value).__name__,))


def key_instance(admin_key):
    """The public prefix of an admin key (the instance it claims), or None."""
    if isinstance(admin_key, str) and "|" in admin_key:
        return admin_key.split("|", 1)[0].split(":")[-1] or None
    return None


class ConvexClient(object):
    """A self-hosted Convex deployment at ``url`` (its CONVEX_CLOUD_ORIGIN or a local port)."""

    def __init__(self, url, admin_key=None, timeout=10.0, retries=2, validate_certs=True,
                 ca_path=None, instance_name=None, backoff=0.25, transport=None):
        if not url or not isinstance(url, str):
            raise ConvexError("url is empty: give the backend URL, e.g. https://convex.example.ts.net", kind="config")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConvexError("url %r is not an http(s) URL with a host" % (url,), kind="config")
        if parts.path not in ("", "/"):
            # The CLI builds URLs with new URL("/api/...", base), which drops a path (reference 8.2).
            raise ConvexError("url %r has a path; Convex needs a bare origin such as %s://%s"
                              % (url, parts.scheme, parts.netloc), kind="config")
        self.url = "%s://%s" % (parts.scheme, parts.netloc)
        self.admin_key = admin_key
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.instance_name = instance_name or key_instance(admin_key)
        self.backoff = backoff
        self.transport = transport or urllib_open

    # ------------------------------------------------------------------ transport
    def _headers(self, extra=None, auth=True, json_body=False):
        headers = {"Convex-Client": CLIENT_HEADER}
        if auth and self.admin_key:
            headers["Authorization"] = "Convex %s" % self.admin_key
        if json_body:
            headers["Content-Type"] = "application/json"
        if extra:
            headers.update(extra)
        return headers

    def _what(self, method, path):
        return "%s %s%s" % (method, self.url, path.split("?", 1)[0])

    def open(self, method, path, query=None, body=None, data=None, headers=None, auth=True,
             idempotent=None, timeout=None):
        """Send a request and return the open response (caller reads and closes it).

        Raises ConvexError for every failure; HTTP errors are mapped from the
        backend's {"code", "message"} body.
        """
        if query:
            path = "%s?%s" % (path, urlencode(query))
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        timeout = self.timeout if timeout is None else float(timeout)
        attempt = 0
        while True:
            try:
                return self.transport(
                    self.url + path, data=data, method=method, timeout=timeout,
                    headers=self._headers(headers, auth=auth, json_body=body is not None),
                    validate_certs=self.validate_certs, ca_path=self.ca_path,
                    http_agent=USER_AGENT, follow_redirects="none", use_proxy=False, use_netrc=False)
            except HTTPError as exc:
                error = self._http_error(method, path, exc)
                retry = idempotent and exc.code in RETRY_STATUSES
            except ConvexError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                error, never_sent = self._transport_error(method, path, exc, timeout)
                retry = idempotent or never_sent
                if error.kind == "tls":
                    retry = False
            if not retry or attempt >= self.retries:
                raise error
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def _transport_error(self, method, path, exc, timeout):
        reason = exc.reason if isinstance(exc, URLError) else exc
        what = self._what(method, path)
        if isinstance(reason, (ssl.SSLCertVerificationError, ssl.CertificateError)):
            return ConvexError("%s: TLS certificate not trusted (%s). Give ca_path or fix the certificate."
                               % (what, getattr(reason, "verify_message", None) or reason), kind="tls"), False
        if isinstance(reason, ssl.SSLError):
            return ConvexError("%s: TLS handshake failed (%s)." % (what, reason), kind="tls"), False
        if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
            return ConvexError("%s: no answer within %gs. Is the backend overloaded or is a proxy "
                               "holding the connection?" % (what, timeout), kind="timeout"), False
        if isinstance(reason, ConnectionRefusedError):
            return ConvexError("%s: connection refused. Is the Convex backend running and is the "
                               "port published?" % what, kind="unreachable"), True
        if isinstance(reason, socket.gaierror):
            return ConvexError("%s: host name does not resolve (%s)." % (what, reason), kind="unreachable"), True
        return ConvexError("%s: %s: %s" % (what, type(reason).__name__, reason), kind="unreachable"), False

    def _http_error(self, method, path, exc):
        what = self._what(method, path)
        status = exc.code
        try:
            raw = exc.read() or b""
        except Exception:  # pylint: disable=broad-except
            raw = b""
        code = message = None
        try:
            payload = json.loads(raw.decode("utf-8"))
            if isinstance(payload, dict):
                code, message = payload.get("code"), payload.get("message")
        except ValueError:
            pass
        if code == "BadAdminKey" or (status == 401 and code is None):
            instance = self.instance_name or key_instance(self.admin_key) or "at %s" % self.url
            return ConvexError(
                "the admin key does not belong to instance %s — was INSTANCE_SECRET rotated? "
                "(HTTP %s %s from %s). Recompute it with joelclaw.macmini.convex_admin_key from "
                "the backend's current INSTANCE_NAME and INSTANCE_SECRET."
                % (instance, status, code or "Unauthorized", what), kind="auth", status=status, code=code)
        if code == "BadDeployKey" or status == 403:
            return ConvexError(
                "%s was refused (HTTP %s %s): %s. The route needs a full admin key in "
                "'Authorization: Convex <key>'." % (what, status, code or "Forbidden", message or "no admin key sent"),
                kind="forbidden", status=status, code=code)
        if code:
            return ConvexError("%s failed: HTTP %s %s: %s" % (what, status, code, message), status=status, code=code)
        snippet = raw[:160].decode("utf-8", "replace").strip()
        hint = ""
        if status in RETRY_STATUSES:
            hint = " The proxy in front of the backend could not reach it; is the backend up?"
        elif status == 404:
            hint = " Is the URL the backend's API origin (port 3210), not the dashboard or site origin?"
        return ConvexError("%s failed: HTTP %s%s%s" % (what, status, (": " + snippet) if snippet else "", hint),
                           status=status, code=None)

    # ------------------------------------------------------------------ helpers
    def call(self, method, path, query=None, body=None, data=None, headers=None, auth=True,
             idempotent=None, timeout=None, expect="json", quiet_body=False):
        """Request and decode the body: expect is 'json', 'text' or 'none'.

        quiet_body=True keeps the body out of error messages (it may hold secrets).
        """
        response = self.open(method, path, query=query, body=body, data=data, headers=headers, auth=auth,
                             idempotent=idempotent, timeout=timeout)
        try:
            raw = response.read()
        except (socket.timeout, TimeoutError):
            raise ConvexError("%s: the answer stopped arriving within %gs." % (self._what(method, path), self.timeout),
                              kind="timeout")
        finally:
            response.close()
        if expect == "none":
            return None
        text = raw.decode("utf-8", "replace")
        if expect == "text":
            return text
        if not raw.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            shown = "%d bytes" % len(raw) if quiet_body else repr(text[:120])
            raise ConvexError("%s returned a body that is not JSON (%s). Is this URL a Convex backend?"
                              % (self._what(method, path), shown), kind="malformed")

    def _shape(self, method, path, value, wanted, quiet=False):
        if not isinstance(value, wanted):
            raise ConvexError("%s returned %s where %s was expected%s." % (
                self._what(method, path), type(value).__name__, wanted.__name__ if isinstance(wanted, type) else "an object",
                "" if quiet else ": %r" % (value,)), kind="malformed")
        return value

    # ------------------------------------------------------------------ health
    def version(self, timeout=None):
        return self.call("GET", "/version", auth=False, expect="text", timeout=timeout).strip()

    def instance_name_live(self, timeout=None):
        return self.call("GET", "/instance_name", auth=False, expect="text", timeout=timeout).strip()

    def check_admin_key(self, timeout=None):
        """True when the backend accepts the key as a full admin key; ConvexError otherwise."""
        value = self._shape("GET", "/api/check_admin_key",
                            self.call("GET", "/api/check_admin_key", timeout=timeout), dict)
        if value.get("success") is not True:
            raise ConvexError("GET /api/check_admin_key did not report success: %r" % (value,), kind="malformed")
        return value

    def check_key(self, timeout=None):
        """'admin' or 'system' when the backend accepts the key for operations; ConvexError otherwise.

        GET /api/check_admin_key refuses a system key with 403 BadDeployKey although every other
        admin route accepts it (convex-backend crates/local_backend/src/dashboard.rs check_admin_key,
        crates/roles/src/eval.rs require_operation); such a key is then checked on
        GET /api/v1/deployment_info, which a missing or wrong key cannot pass.
        """
        try:
            self.check_admin_key(timeout=timeout)
            return "admin"
        except ConvexError as exc:
            if not (self.admin_key and exc.status == 403 and exc.code == "BadDeployKey"):
                raise
        self._shape("GET", "/api/v1/deployment_info", self.call("GET", "/api/v1/deployment_info", timeout=timeout), dict)
        return "system"

    # ------------------------------------------------------------------ functions
    def query(self, udf_path, args=None, timeout=None, quiet=False):
        """Run a (system) query over POST /api/query; returns its value (format json)."""
        body = {"path": udf_path, "args": args or {}, "format": "json"}
        try:
            response = self.open("POST", "/api/query", body=body, idempotent=True, timeout=timeout)
            raw = response.read()
            response.close()
        except ConvexError as exc:
            if exc.status != UDF_FAILED_STATUS:
                raise
            raw = b""
            result = {"status": "error", "errorMessage": exc.message}
        else:
            try:
                result = json.loads(raw.decode("utf-8"))
            except ValueError:
                raise ConvexError("POST %s/api/query (%s) returned a body that is not JSON (%d bytes)."
                                  % (self.url, udf_path, len(raw)), kind="malformed")
        if not isinstance(result, dict) or result.get("status") not in ("success", "error"):
            raise ConvexError("POST %s/api/query (%s) returned an unexpected shape%s." % (
                self.url, udf_path, "" if quiet else ": %r" % (result,)), kind="malformed")
        if result["status"] == "error":
            raise ConvexError("query %s failed: %s" % (udf_path, result.get("errorMessage")), kind="function")
        return result.get("value")

    # ------------------------------------------------------------------ environment variables
    def list_env(self, timeout=None):
        value = self.call("GET", "/api/list_environment_variables", timeout=timeout, quiet_body=True)
        if not isinstance(value, dict) or not isinstance(value.get("environmentVariables"), dict):
            raise ConvexError("GET %s/api/list_environment_variables returned an unexpected shape "
                              "(expected {\"environmentVariables\": {...}})." % self.url, kind="malformed")
        return dict(value["environmentVariables"])

    def update_env(self, changes, timeout=None):
        """One POST /api/update_environment_variables; a None value deletes the variable."""
        self.call("POST", "/api/update_environment_variables", body={"changes": changes},
                  timeout=timeout, expect="none")

    # ------------------------------------------------------------------ export
    def request_export(self, include_storage, timeout=None):
        self.call("POST", "/api/export/request/zip",
                  query={"includeStorage": "true" if include_storage else "false"},
                  timeout=timeout, expect="none")

    def latest_export(self, timeout=None):
        value = self.query("_system/cli/exports:getLatest", {}, timeout=timeout)
        if value is not None and not (isinstance(value, dict) and "state" in value):
            raise ConvexError("_system/cli/exports:getLatest returned an unexpected shape: %r" % (value,),
                              kind="malformed")
        return value

    def open_export(self, snapshot_id, timeout=None):
        return self.open("GET", "/api/export/zip/%s" % quote(str(snapshot_id), safe=""), timeout=timeout)

    # ------------------------------------------------------------------ import
    def start_upload(self, timeout=None):
        value = self.call("POST", "/api/import/start_upload", timeout=timeout)
        if not isinstance(value, dict) or not isinstance(value.get("uploadToken"), str):
            raise ConvexError("POST /api/import/start_upload returned no uploadToken: %r" % (value,), kind="malformed")
        return value["uploadToken"]

    def upload_part(self, upload_token, part_number, chunk, timeout=None):
        value = self.call("POST", "/api/import/upload_part",
                          query={"uploadToken": upload_token, "partNumber": part_number}, data=chunk,
                          headers={"Content-Type": "application/octet-stream"}, timeout=timeout)
        if not isinstance(value, str):
            raise ConvexError("POST /api/import/upload_part returned %r, not a part token" % (value,), kind="malformed")
        return value

    def finish_upload(self, upload_token, part_tokens, mode, fmt="zip", timeout=None):
        body = {"import": {"format": fmt, "mode": mode}, "uploadToken": upload_token, "partTokens": part_tokens}
        value = self.call("POST", "/api/import/finish_upload", body=body, timeout=timeout)
        if not isinstance(value, dict) or not isinstance(value.get("importId"), str):
            raise ConvexError("POST /api/import/finish_upload returned no importId: %r" % (value,), kind="malformed")
        return value["importId"]

    def import_state(self, import_id, timeout=None):
        value = self.query("_system/cli/queryImport", {"importId": import_id}, timeout=timeout)
        if not isinstance(value, dict) or not isinstance(value.get("state"), dict):
            raise ConvexError("_system/cli/queryImport returned an unexpected shape: %r" % (value,), kind="malformed")
        return value

    def perform_import(self, import_id, timeout=None):
        self.call("POST", "/api/perform_import", body={"importId": import_id}, timeout=timeout, expect="none")

    def cancel_import(self, import_id, timeout=None):
        self.call("POST", "/api/cancel_import", body={"importId": import_id}, timeout=timeout, expect="none")


def poll_intervals(first=0.05, factor=1.5, cap=2.0):
    """Sleep lengths for polling: short at first (fast exports finish fast), then capped."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)
