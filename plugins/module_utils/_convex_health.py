# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Health probes for a self-hosted Convex stack, run concurrently with per-probe deadlines.

Each probe returns a Probe (name, status ok|warn|fail, value, hint). A probe that has not
answered by its deadline is reported as failed with "timed out"; it cannot hold up the others.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import socket
import ssl
import threading
import time
import traceback

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient, ConvexError, urllib_open

# The HTTP transport of every probe: the standard library's (the scheduled health job), or
# Ansible's open_url, which the convex_health module injects with use_transport().
open_url = urllib_open

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config
except ImportError:
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

OK, WARN, FAIL = "ok", "warn", "fail"
RANK = {OK: 0, WARN: 1, FAIL: 2}
GRACE = 0.05


class Probe(dict):
    def __init__(self, name, status, value=None, hint="", **data):
        super(Probe, self).__init__(name=name, status=status, value=value, hint=hint, **data)


def worst(statuses):
    statuses = list(statuses)
    return max(statuses, key=RANK.get) if statuses else OK


# ---------------------------------------------------------------------------- HTTP probes
def probe_version(client, timeout):
    try:
        return [Probe("backend_version", OK, client.version(timeout=timeout))]
    except ConvexError as exc:
        return [Probe("backend_version", FAIL, None, exc.message)]


def probe_instance_name(client, instance_name, timeout):
    try:
        live = client.instance_name_live(timeout=timeout)
    except ConvexError as exc:
        return [Probe("instance_name", FAIL, None, exc.message)]
    if instance_name and live != instance_name:
        return [Probe("instance_name", FAIL, live, "expected %r: url points at another deployment, "
                      "or INSTANCE_NAME changed (every admin key is now invalid)" % instance_name)]
    return [Probe("instance_name", OK, live)]


def probe_admin_key(client, timeout):
    try:
        client.check_admin_key(timeout=timeout)
    except ConvexError as exc:
        return [Probe("admin_key", FAIL, "rejected" if exc.kind == "auth" else None, exc.message)]
    return [Probe("admin_key", OK, "valid")]


def use_transport(func):
    """Replace the HTTP transport of the site and dashboard probes: a callable with
    ansible.module_utils.urls.open_url's keywords (url, method, timeout, validate_certs, ca_path,
    follow_redirects, use_proxy, use_netrc) returning a response with getcode() and close()."""
    global open_url  # pylint: disable=global-statement
    open_url = func


def _http_status(url, timeout, validate_certs, ca_path):
    try:
        response = open_url(url, method="GET", timeout=timeout, validate_certs=validate_certs, ca_path=ca_path,
                            follow_redirects="none", use_proxy=False, use_netrc=False)
        status = response.getcode()
        response.close()
        return status
    except HTTPError as exc:
        return exc.code


def _transport_hint(exc, url, timeout):
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "no answer from %s within %gs" % (url, timeout)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused by %s: is Caddy (or the port-forward) running?" % url
    if isinstance(reason, ssl.SSLError):
        return "TLS failed for %s: %s" % (url, reason)
    return "%s: %s" % (url, reason)


def probe_site(site_url, path, timeout, validate_certs, ca_path):
    """HTTP actions through the site origin: any answer below 500 comes from the backend's router."""
    url = site_url.rstrip("/") + path
    try:
        status = _http_status(url, timeout, validate_certs, ca_path)
    except Exception as exc:  # pylint: disable=broad-except
        return [Probe("http_actions", FAIL, None, _transport_hint(exc, url, timeout))]
    if status >= 500:
        return [Probe("http_actions", FAIL, "HTTP %d" % status,
                      "the proxy reached nothing behind %s: is the backend's site port (3211) or /http route up?" % site_url)]
    return [Probe("http_actions", OK, "HTTP %d" % status, "" if status < 400 else "reachable (no action at %s)" % path)]


def probe_dashboard(dashboard_url, timeout, validate_certs, ca_path):
    try:
        status = _http_status(dashboard_url, timeout, validate_certs, ca_path)
    except Exception as exc:  # pylint: disable=broad-except
        return [Probe("dashboard", FAIL, None, _transport_hint(exc, dashboard_url, timeout))]
    if status >= 500:
        return [Probe("dashboard", FAIL, "HTTP %d" % status, "the dashboard container is down or restarting")]
    if status in (401, 403):
        return [Probe("dashboard", OK, "HTTP %d" % status, "reachable, behind authentication")]
    if status >= 400:
        return [Probe("dashboard", WARN, "HTTP %d" % status, "unexpected answer from %s" % dashboard_url)]
    return [Probe("dashboard", OK, "HTTP %d" % status)]


# ---------------------------------------------------------------------------- TLS
def split_host(target, default_port=443):
    if "://" in target:
        parts = urlsplit(target)
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    host, _sep, port = target.rpartition(":") if target.count(":") == 1 else (target, "", "")
    return (host, int(port)) if port else (target, default_port)


def probe_tls(target, timeout, ca_path, warn_days, fail_days):
    host, port = split_host(target)
    name = "tls %s:%d" % (host, port)
    context = ssl.create_default_context(cafile=ca_path)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as exc:
        hint = "certificate not trusted (%s): is Caddy serving the Tailscale certificate for this name?" % (
            exc.verify_message or exc)
        return [Probe(name, FAIL, None, hint)]
    except (OSError, ssl.SSLError) as exc:
        return [Probe(name, FAIL, None, _transport_hint(exc, "%s:%d" % (host, port), timeout))]
    days = (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400.0
    value = "%.1f days left" % days
    if days < fail_days:
        hint = "renew now: Caddy renews Tailscale certificates itself while tailscaled is logged in"
        return [Probe(name, FAIL, value, hint, days_left=round(days, 2))]
    if days < warn_days:
        return [Probe(name, WARN, value, "renewal is due; check that Caddy can reach tailscaled",
                      days_left=round(days, 2))]
    return [Probe(name, OK, value, days_left=round(days, 2))]


# ---------------------------------------------------------------------------- Kubernetes
def kube_apis(kubeconfig, context=None):
    """(AppsV1Api, CoreV1Api) for a kubeconfig file and context (None: its current-context). Tests replace this with fakes."""
    api_client = kube_config.new_client_from_config(config_file=kubeconfig, context=context or None)
    return kube_client.AppsV1Api(api_client), kube_client.CoreV1Api(api_client)


def probe_kubernetes(kubeconfig, namespace, statefulset, timeout, restarts_warn, restarts_fail, context=None):
    names = ("statefulset", "pod_restarts", "pvc")
    try:
        apps, core = kube_apis(kubeconfig, context)
        sts = apps.read_namespaced_stateful_set(statefulset, namespace, _request_timeout=timeout)
    except Exception as exc:  # pylint: disable=broad-except
        hint = "cannot read StatefulSet %s/%s: %s" % (namespace, statefulset, _kube_reason(exc))
        return [Probe(n, FAIL, None, hint) for n in names]
    results = []
    # Every hint names the kubeconfig (and the context when one is set): the collection's cluster is
    # reached through that file and context only.
    kube_target = "--kubeconfig %s" % shlex.quote(kubeconfig)
    if context:
        kube_target += " --context %s" % shlex.quote(context)
    kubectl = "kubectl %s -n %s" % (kube_target, shlex.quote(namespace))
    wanted = sts.spec.replicas if sts.spec.replicas is not None else 1
    ready = (sts.status.ready_replicas or 0) if sts.status else 0
    first_pod = "%s-0" % statefulset
    results.append(Probe("statefulset", OK if ready >= wanted and wanted > 0 else FAIL, "%d/%d ready" % (ready, wanted),
                         "" if ready >= wanted and wanted > 0 else
                         "%s describe statefulset %s; %s describe pod %s (events at the end)"
                         % (kubectl, statefulset, kubectl, first_pod)))
    labels = (sts.spec.selector.match_labels or {}) if sts.spec.selector else {}
    selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
    try:
        pods = core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=timeout).items
        restarts = sum(cs.restart_count or 0 for pod in pods for cs in (pod.status.container_statuses or []))
        status = FAIL if restarts >= restarts_fail else WARN if restarts >= restarts_warn else OK
        results.append(Probe("pod_restarts", status, "%d restarts in %d pods" % (restarts, len(pods)),
                             "" if status == OK else
                             "look for OOMKilled: %s describe pod -l %s; the last crash: %s logs %s%s --previous"
                             % (kubectl, selector, kubectl, first_pod, _container_flag(sts)), restarts=restarts))
    except Exception as exc:  # pylint: disable=broad-except
        results.append(Probe("pod_restarts", FAIL, None, "cannot list pods: %s" % _kube_reason(exc)))
    try:
        phases = {}
        for template in sts.spec.volume_claim_templates or []:
            for ordinal in range(wanted):
                claim = "%s-%s-%d" % (template.metadata.name, statefulset, ordinal)
                pvc = core.read_namespaced_persistent_volume_claim(claim, namespace, _request_timeout=timeout)
                phases[claim] = pvc.status.phase if pvc.status else None
        unbound = sorted(c for c, p in phases.items() if p != "Bound")
        if not phases:
            results.append(Probe("pvc", WARN, "none", "the StatefulSet has no volumeClaimTemplates: is /convex/data persistent?"))
        elif unbound:
            results.append(Probe("pvc", FAIL, ", ".join("%s=%s" % (c, phases[c]) for c in unbound),
                                 "a PVC that is not Bound keeps the backend from starting: %s describe pvc %s; "
                                 "kubectl %s get storageclass (one must be default)"
                                 % (kubectl, unbound[0], kube_target)))
        else:
            results.append(Probe("pvc", OK, "%d Bound" % len(phases)))
    except Exception as exc:  # pylint: disable=broad-except
        results.append(Probe("pvc", FAIL, None, "cannot read PVCs: %s" % _kube_reason(exc)))
    return results


def _container_flag(sts):
    """' -c <name>' for the StatefulSet's first container, or '' when the template does not say."""
    try:
        return " -c %s" % shlex.quote(sts.spec.template.spec.containers[0].name)
    except (AttributeError, IndexError, TypeError):
        return ""


def _kube_reason(exc):
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status:
        return "HTTP %s %s" % (status, reason or "")
    return "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


# ---------------------------------------------------------------------------- backups
MANIFEST_SUFFIX = ".manifest.json"


def probe_backup(backup_dir, pattern, warn_hours, fail_hours, require_manifest=True, job_file=None):
    """Age of the newest backup. With require_manifest, a ZIP counts only beside its
    <base>.manifest.json, which the backup job writes after verifying the ZIP: a stray or
    hand-made export in the directory cannot hide a backup job that stopped working.

    With job_file (a file the backup job's installation writes, e.g. its config), an empty directory
    is a warning while the job's first scheduled run is not due yet: the job is daily, so that run
    comes within warn_hours (a day plus grace) of the file's last change. After that it fails."""
    try:
        names = set(os.listdir(backup_dir))
        entries = [e for e in os.scandir(backup_dir) if e.is_file() and fnmatch.fnmatch(e.name, pattern)]
    except OSError as exc:
        return [Probe("backup_age", FAIL, None, "cannot read %s: %s" % (backup_dir, exc.strerror))]
    if require_manifest:
        entries = [e for e in entries if os.path.splitext(e.name)[0] + MANIFEST_SUFFIX in names]
    if not entries:
        return [_no_backup_yet(backup_dir, pattern, warn_hours, require_manifest, job_file)]
    newest = max(entries, key=lambda e: e.stat().st_mtime)
    hours = (time.time() - newest.stat().st_mtime) / 3600.0
    value = "%.1fh (%s)" % (hours, newest.name)
    status = FAIL if hours >= fail_hours else WARN if hours >= warn_hours else OK
    hint = "" if status == OK else "the newest backup is older than %gh: check the backup job's logs" % (
        fail_hours if status == FAIL else warn_hours)
    return [Probe("backup_age", status, value, hint, age_hours=round(hours, 2), newest=newest.path)]


def probe_offsite(status_file, warn_hours, fail_hours, now=None):
    """Age of the newest offsite snapshot, per restic repository, from the status file the
    backup job rewrites after each offsite copy (roles/convex_backup, _convex_offsite). A job
    that stopped running leaves the times as they were, so the ages keep growing."""
    try:
        with open(status_file, "r") as handle:
            repositories = json.load(handle)["repositories"]
        items = sorted(repositories.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return [Probe("offsite_age", FAIL, "none", "cannot read %s (%s): has the backup job copied a set offsite yet?"
                      % (status_file, getattr(exc, "strerror", None) or type(exc).__name__))]
    if not items:
        return [Probe("offsite_age", FAIL, "none", "%s lists no repository" % status_file)]
    now = time.time() if now is None else now
    probes = []
    for name, entry in items:
        probe_name = "offsite_age %s" % name
        newest = entry.get("newest_snapshot_unix") if isinstance(entry, dict) else None
        error = entry.get("last_error") if isinstance(entry, dict) else "unreadable entry"
        if not isinstance(newest, (int, float)):
            probes.append(Probe(probe_name, FAIL, "none", "no snapshot in this repository%s"
                                % (": " + error if error else "")))
            continue
        hours = (now - newest) / 3600.0
        status = FAIL if hours >= fail_hours else WARN if hours >= warn_hours else OK
        hints = []
        if status != OK:
            hints.append("the newest offsite snapshot is older than %gh" % (fail_hours if status == FAIL else warn_hours))
        if error:
            status = worst([status, WARN])
            hints.append("last copy failed: %s" % error)
        if entry.get("last_check_ok") is False:
            status = worst([status, WARN])
            hints.append("restic check failed: %s" % entry.get("last_check_error"))
        probes.append(Probe(probe_name, status, "%.1fh" % hours, "; ".join(hints), age_hours=round(hours, 2),
                            repository=entry.get("url")))
    return probes


def probe_restore_drill(result_file, warn_days, now=None):
    """The last restore drill's outcome, from the JSON file playbooks/restore-drill.yml writes
    (_convex_drill.result_record): fail when it failed, warn when it is older than warn_days or
    when no drill was ever run."""
    try:
        with open(result_file, "r") as handle:
            record = json.load(handle)
        ok, finished = record["ok"], float(record["date_unix"])
    except FileNotFoundError:
        return [Probe("restore_drill", WARN, "none", "no restore drill recorded in %s: run playbooks/restore-drill.yml"
                      % result_file)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Probe("restore_drill", FAIL, "none", "cannot read %s (%s): run playbooks/restore-drill.yml again"
                      % (result_file, getattr(exc, "strerror", None) or type(exc).__name__))]
    days = ((time.time() if now is None else now) - finished) / 86400.0
    value = "%.1fd ago, RTO %ss" % (days, record.get("rto_seconds"))
    if ok is not True:
        problems = record.get("problems") or []
        return [Probe("restore_drill", FAIL, value, "the last restore drill FAILED: %s" % "; ".join(problems)[:500],
                      age_days=round(days, 2), backup=record.get("backup"))]
    status = WARN if days >= warn_days else OK
    hint = "the last restore drill is older than %gd: run playbooks/restore-drill.yml" % warn_days if status == WARN else ""
    return [Probe("restore_drill", status, value, hint, age_days=round(days, 2), rto_seconds=record.get("rto_seconds"),
                  backup=record.get("backup"))]


def _no_backup_yet(backup_dir, pattern, warn_hours, require_manifest, job_file):
    what = "verified backup (%s with its %s)" % (pattern, MANIFEST_SUFFIX) if require_manifest else pattern
    take_one = "take one now with playbooks/backup.yml"
    if not job_file:
        return Probe("backup_age", FAIL, "none", "no %s in %s: has the backup job ever run?" % (what, backup_dir))
    try:
        installed = os.stat(job_file).st_mtime
    except OSError:
        return Probe("backup_age", FAIL, "none", "no %s in %s and no backup job installed (%s is missing): converge "
                     "the convex_backup role (site.yml --tags convex_backup), then %s" % (what, backup_dir, job_file, take_one))
    hours = max(0.0, (time.time() - installed) / 3600.0)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(installed))
    if hours < warn_hours:
        return Probe("backup_age", WARN, "none yet", "no backup yet, job installed %s (%s); its first scheduled run is "
                     "due within %gh of that; %s" % (stamp, job_file, warn_hours, take_one),
                     installed_hours=round(hours, 2))
    return Probe("backup_age", FAIL, "none", "no %s in %s although the job was installed %.1fh ago (%s, %s): its first "
                 "scheduled run should have happened; check the backup job's logs, then %s"
                 % (what, backup_dir, hours, stamp, job_file, take_one), installed_hours=round(hours, 2))


# ---------------------------------------------------------------------------- runner
def run_probes(jobs):
    """jobs: [(placeholder names, timeout, callable returning [Probe])] run concurrently.

    Returns the probes in job order; a job still running at its deadline yields a failed
    probe per placeholder name ("timed out after Ns").
    """
    slots = [None] * len(jobs)
    elapsed = [None] * len(jobs)
    started = time.monotonic()

    def work(index, func):
        t0 = time.monotonic()
        try:
            slots[index] = func()
        except Exception as exc:  # pylint: disable=broad-except
            slots[index] = [Probe(n, FAIL, None, "probe crashed: %s: %s" % (type(exc).__name__, exc))
                            for n in jobs[index][0]]
        elapsed[index] = time.monotonic() - t0

    threads = []
    for index, (_names, _timeout, func) in enumerate(jobs):
        thread = threading.Thread(target=work, args=(index, func), daemon=True)
        thread.start()
        threads.append(thread)
    for index, thread in enumerate(threads):
        thread.join(max(0.0, started + jobs[index][1] + GRACE - time.monotonic()))
    probes = []
    for index, (names, timeout, _func) in enumerate(jobs):
        if threads[index].is_alive() or slots[index] is None:
            probes.extend(Probe(n, FAIL, None, "timed out after %gs" % timeout, elapsed_ms=int(timeout * 1000))
                          for n in names)
            continue
        for probe in slots[index]:
            probe.setdefault("elapsed_ms", int(elapsed[index] * 1000))
            probes.append(probe)
    return probes


def report_lines(probes):
    width = max([len(p["name"]) for p in probes] + [10])
    lines = []
    for probe in probes:
        value = "-" if probe["value"] is None else str(probe["value"])
        line = "%-4s  %-*s  %s" % (probe["status"].upper(), width, probe["name"], value)
        if probe.get("hint"):
            line += "  -- " + probe["hint"]
        lines.append(line)
    return lines


def backend_client(url, admin_key, timeout, validate_certs, ca_path, instance_name):
    return ConvexClient(url, admin_key, timeout=timeout, retries=0, validate_certs=validate_certs,
                        ca_path=ca_path, instance_name=instance_name, transport=open_url)
