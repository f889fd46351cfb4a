# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled Convex health check (installed by the joelclaw.macmini.convex_health_schedule role).

Standard library only, run as ``python3 -I -S convex_health_job.py --config <dir>/config.json``.
The probes, the backend client and its standard-library HTTP transport are the collection's own
(plugins/module_utils/_convex_health.py, _convex_client.py, _convex_env_file.py, installed under
lib/ansible_collections/joelclaw/macmini/plugins/module_utils/ as they are in the collection; they
import nothing from Ansible, so no shim stands in for it): this file runs the probes, writes the
report, and sends an event when the verdict changes (and once a day while it stays bad).

State dir (0700, files 0600): report.json (the latest), history.jsonl (the last N reports, one per
line), alerts.json (what each target was last told, and when).

Exit status: 0 after a run, whatever the verdict and whether the alerts went out (a failed send is
logged and retried on the next run); 2 when the config cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
EVENT_NAME = "joelclaw/convex.health"
USER_AGENT = "joelclaw.macmini-convex-health"
RANK = {"ok": 0, "warn": 1, "fail": 2}


# ---------------------------------------------------------------------------- probes
def load_health():
    """The collection's probe code and env file reader, from lib/ (standard library only)."""
    lib = os.path.join(HERE, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file, _convex_health
    return _convex_health, _convex_env_file


def build_jobs(health, env_file, config):
    """The probes of the convex_health module that run without the kubernetes client."""
    tmo = float(config["timeout"])
    limit = config["thresholds"]
    early, admin_key = [], None
    if config.get("admin_key_env_file"):
        admin_key, problem = env_file.admin_key_or_problem(config["admin_key_env_file"])
        if problem:
            early.append(health.Probe("admin_key", health.FAIL, None, problem))
    client = health.backend_client(config["url"], admin_key, tmo, config["validate_certs"], config["ca_path"],
                                   config["instance_name"])
    jobs = [(["backend_version"], tmo, lambda: health.probe_version(client, tmo)),
            (["instance_name"], tmo, lambda: health.probe_instance_name(client, config["instance_name"], tmo))]
    if admin_key:
        jobs.append((["admin_key"], tmo, lambda: health.probe_admin_key(client, tmo)))
    if config.get("site_url"):
        jobs.append((["http_actions"], tmo, lambda: health.probe_site(
            config["site_url"], "/", tmo, config["validate_certs"], config["ca_path"])))
    if config.get("dashboard_url"):
        jobs.append((["dashboard"], tmo, lambda: health.probe_dashboard(
            config["dashboard_url"], tmo, config["validate_certs"], config["ca_path"])))
    for target in config.get("tls_hosts") or []:
        host, port = health.split_host(target)
        jobs.append((["tls %s:%d" % (host, port)], tmo, lambda target=target: health.probe_tls(
            target, tmo, config["ca_path"], limit["tls_days_warn"], limit["tls_days_fail"])))
    if config.get("backup_dir"):
        jobs.append((["backup_age"], tmo, lambda: health.probe_backup(
            config["backup_dir"], "*.zip", limit["backup_age_warn_hours"], limit["backup_age_fail_hours"], True)))
    if config.get("restore_drill_file"):
        # The monthly drill's (or a manual drill's) outcome: fail when it failed, warn when it is old.
        jobs.append((["restore_drill"], tmo, lambda: health.probe_restore_drill(
            config["restore_drill_file"], float(limit.get("restore_drill_warn_days", 35)))))
    return jobs, early, admin_key


def run_probes(health, env_file, config):
    jobs, early, admin_key = build_jobs(health, env_file, config)
    probes = health.run_probes(jobs)
    probes[2:2] = early
    return probes, admin_key


# ---------------------------------------------------------------------------- files
def write_private(path, text):
    """Write text to path atomically, 0600."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_json(path, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def record(state_dir, report, history_size):
    write_private(os.path.join(state_dir, "report.json"), json.dumps(report, indent=2, sort_keys=True) + "\n")
    path = os.path.join(state_dir, "history.jsonl")
    try:
        with open(path) as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except OSError:
        lines = []
    lines.append(json.dumps(report, sort_keys=True))
    write_private(path, "\n".join(lines[-history_size:]) + "\n")


# ---------------------------------------------------------------------------- alerts
def scrub(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def post_json(url, body, timeout, validate_certs, ca_path):
    """POST with the client's standard-library transport (lib/ is on sys.path once load_health ran)."""
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import urllib_open
    response = urllib_open(url, data=body, method="POST", headers={"Content-Type": "application/json"}, timeout=timeout,
                           validate_certs=validate_certs, ca_path=ca_path, follow_redirects="none", http_agent=USER_AGENT)
    status = response.getcode()
    response.close()
    return status


def deliver(name, url, body, config, log, sleep, shown):
    """POST body to url, retrying with exponential backoff; True once a 2xx answer arrives."""
    attempts = int(config["send_attempts"])
    for attempt in range(1, attempts + 1):
        try:
            status = post_json(url, body, float(config["send_timeout"]), config["validate_certs"], config["ca_path"])
            if 200 <= status < 300:
                log("%s: event delivered to %s (HTTP %d)" % (name, shown, status))
                return True
            reason = "HTTP %d" % status
        except HTTPError as exc:
            reason = "HTTP %d" % exc.code
        except (URLError, OSError, ValueError) as exc:
            reason = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            delay = float(config["send_backoff"]) * 2 ** (attempt - 1)
            log("%s: send to %s failed (%s), attempt %d/%d, retrying in %gs" % (name, shown, reason, attempt, attempts, delay))
            sleep(delay)
        else:
            log("%s: send to %s failed (%s) after %d attempts; it is retried on the next run"
                % (name, shown, reason, attempts))
    return False


def targets(config):
    """[(name, url, what the log shows)]: the event key and any webhook path stay out of the logs."""
    found = []
    if config.get("inngest_url") and config.get("inngest_event_key_file"):
        with open(config["inngest_event_key_file"]) as handle:
            key = handle.read().strip()
        found.append(("inngest", "%s/e/%s" % (config["inngest_url"].rstrip("/"), key),
                      "%s/e/***" % config["inngest_url"].rstrip("/"), key))
    if config.get("webhook_url"):
        parts = urlsplit(config["webhook_url"])
        found.append(("webhook", config["webhook_url"], "%s://%s/***" % (parts.scheme, parts.netloc), None))
    return found


def decide(previous, verdict, now, reminder_seconds):
    """'changed', 'reminder' or None for one target, given what it was last told."""
    if previous is None:
        return "changed" if verdict != "ok" else None
    if previous.get("verdict") != verdict:
        return "changed"
    if verdict != "ok" and now - float(previous.get("sent_at", 0)) >= reminder_seconds:
        return "reminder"
    return None


def event_data(report, kind, previous_verdict, since):
    failing = [{"name": p["name"], "status": p["status"], "value": p["value"], "hint": p.get("hint", "")}
               for p in report["probes"] if p["status"] != "ok"]
    return {"verdict": report["verdict"], "previous_verdict": previous_verdict, "kind": kind, "since": since,
            "checked_at": report["checked_at"], "url": report["url"], "failing": failing, "counts": report["counts"]}


def alert(config, report, now, log, sleep, secrets):
    path = os.path.join(config["state_dir"], "alerts.json")
    state = read_json(path, {})
    try:
        found = targets(config)
    except OSError as exc:
        log("cannot read the Inngest event key file: %s; no event sent" % (exc.strerror or exc))
        return
    verdict = report["verdict"]
    since = state.get("since") if state.get("verdict") == verdict else report["checked_at"]
    state["verdict"], state["since"] = verdict, since
    for name, url, shown, key in found:
        previous = state.get(name)
        kind = decide(previous, verdict, now, float(config["reminder_hours"]) * 3600)
        if kind is None:
            continue
        data = event_data(report, kind, previous.get("verdict") if previous else None, since)
        body = {"name": EVENT_NAME, "data": data} if name == "inngest" else data
        text = scrub(json.dumps(body, sort_keys=True), list(secrets) + [key])
        if deliver(name, url, text.encode("utf-8"), config, log, sleep, shown):
            state[name] = {"verdict": verdict, "sent_at": now}
    write_private(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------- main
def load_config(path):
    with open(path) as handle:
        config = json.load(handle)
    for key in ("url", "state_dir", "history_size", "timeout", "thresholds", "reminder_hours", "send_attempts",
                "send_backoff", "send_timeout"):
        if key not in config:
            raise ValueError("missing %r" % key)
    config.setdefault("validate_certs", True)
    config.setdefault("ca_path", None)
    config.setdefault("instance_name", None)
    return config


def log_to_stderr(message):
    sys.stderr.write("%s convex-health: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message))
    sys.stderr.flush()


def main(argv=None, clock=time.time, sleep=time.sleep, log=log_to_stderr, probe=None):
    parser = argparse.ArgumentParser(description="Check the Convex stack; alert when the verdict changes.")
    parser.add_argument("--config", default=os.path.join(HERE, "config.json"))
    args = parser.parse_args(argv)
    os.umask(0o077)
    try:
        config = load_config(args.config)
        os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    except (OSError, ValueError) as exc:
        log("FAILED: config %s: %s" % (args.config, exc))
        return 2
    health, env_file = load_health()
    now = clock()
    probes, admin_key = (probe or run_probes)(health, env_file, config)
    verdict = health.worst(p["status"] for p in probes)
    report = {"checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "url": config["url"],
              "verdict": verdict, "probes": probes,
              "counts": {s: sum(1 for p in probes if p["status"] == s) for s in ("ok", "warn", "fail")}}
    report = json.loads(scrub(json.dumps(report), [admin_key]))
    try:
        record(config["state_dir"], report, int(config["history_size"]))
    except OSError as exc:
        log("cannot write the report in %s: %s" % (config["state_dir"], exc))
    log("%s (%s)" % (verdict.upper(), "; ".join("%s: %s" % (p["name"], p.get("hint") or p["value"])
                                                for p in probes if p["status"] != "ok") or "all probes ok"))
    try:
        alert(config, report, now, log, sleep, [admin_key])
    except Exception as exc:  # pylint: disable=broad-except
        # An alert must never crash the check: the report is written, the next run tries again.
        log("alerting failed: %s: %s" % (type(exc).__name__, scrub(str(exc), [admin_key])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
