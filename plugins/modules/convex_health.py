#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_health
short_description: Check a self-hosted Convex stack and return facts and a verdict
version_added: 0.1.0
description:
  - Runs every probe at once, each with its own timeout, and returns one entry per probe
    (status V(ok), V(warn) or V(fail), a value and a hint) plus an overall verdict.
  - "Probes: backend C(/version); C(/instance_name) equals O(instance_name); the admin key is
    accepted (C(GET /api/check_admin_key)); HTTP actions answer through O(site_url); the
    dashboard answers at O(dashboard_url); days left on the TLS certificate of each public host;
    with O(kubeconfig), the StatefulSet's ready replicas, its pods' restarts and its PVCs' phase;
    with O(backup_dir), the age of the newest backup."
  - A probe that does not answer within its timeout fails as "timed out"; it never delays the others.
  - Read-only; never changes anything.
author:
  - Joel Hooks (@joelhooks)
requirements:
  - kubernetes (Python client) on the managed host, only when O(kubeconfig) is given
options:
  instance_name:
    description: The expected C(INSTANCE_NAME). When omitted the name is reported, not compared.
    type: str
  admin_key:
    description: An admin key to check. Mutually exclusive with O(admin_key_env_file).
    type: str
  site_url:
    description: The HTTP actions origin (C(CONVEX_SITE_ORIGIN)).
    type: str
  site_path:
    description: Path requested on O(site_url). Any answer below 500 proves the route to the backend.
    type: str
    default: /
  dashboard_url:
    description: The dashboard URL.
    type: str
  tls_hosts:
    description:
      - C(host) or C(host:port) entries (or https URLs) whose certificate expiry is checked.
      - Defaults to the https ones among O(url), O(site_url) and O(dashboard_url).
    type: list
    elements: str
  kubeconfig:
    description: Kubeconfig for the cluster; enables the StatefulSet, restarts and PVC probes.
    type: path
  context:
    description:
      - The context of O(kubeconfig) to use; empty or unset uses its current-context.
      - Set it when the kubeconfig also holds other clusters (the contract's C(convex_kube_context)).
    type: str
  namespace:
    description: Namespace of the backend StatefulSet.
    type: str
    default: convex
  statefulset:
    description: Name of the backend StatefulSet.
    type: str
    default: convex
  backup_dir:
    description: Directory of snapshot exports; enables the backup age probe.
    type: path
  backup_pattern:
    description: Shell pattern of backup file names in O(backup_dir).
    type: str
    default: "*.zip"
  backup_require_manifest:
    description:
      - Count a backup only when its C(<name>.manifest.json) stands beside it, as the
        P(joelclaw.macmini.convex_backup#role) job writes it after verifying the ZIP.
      - Set to V(false) for a directory of plain C(npx convex export) files.
    type: bool
    default: true
  offsite_status_file:
    description:
      - The offsite status file the P(joelclaw.macmini.convex_backup#role) job writes after each restic copy;
        enables one C(offsite_age <repository>) probe per repository (age of its newest snapshot, with the
        O(thresholds.backup_age_warn_hours) / O(thresholds.backup_age_fail_hours) limits; a failed copy or check warns).
    type: path
  restore_drill_file:
    description:
      - The result file C(playbooks/restore-drill.yml) writes; enables the C(restore_drill) probe (fails when
        the last drill failed, warns when none was recorded or it is older than O(thresholds.restore_drill_warn_days)).
    type: path
  backup_job_file:
    description:
      - A file the backup job's installation writes, such as the config of the
        P(joelclaw.macmini.convex_backup#role) job (C(<convex_backup_install_dir>/config.json)).
      - When O(backup_dir) holds no backup yet and this file changed less than
        O(thresholds.backup_age_warn_hours) ago, C(backup_age) warns ("no backup yet, job installed")
        instead of failing, until the daily job's first scheduled run is due.
      - When it is missing, the hint says to install the job.
    type: path
  timeout:
    description: Seconds each probe may take.
    type: float
    default: 5
  timeouts:
    description:
      - Per-probe overrides of O(timeout), by probe name (C(backend_version), C(instance_name),
        C(admin_key), C(http_actions), C(dashboard), C(tls), C(kubernetes), C(backup_age), C(offsite_age), C(restore_drill)).
    type: dict
    default: {}
  thresholds:
    description: Limits for the warn and fail statuses.
    type: dict
    default: {}
    suboptions:
      tls_days_warn:
        description: Warn when a certificate has fewer days left.
        type: float
        default: 14
      tls_days_fail:
        description: Fail when a certificate has fewer days left.
        type: float
        default: 3
      backup_age_warn_hours:
        description: Warn when the newest backup is older.
        type: float
        default: 26
      backup_age_fail_hours:
        description: Fail when the newest backup is older.
        type: float
        default: 50
      restore_drill_warn_days:
        description: Warn when the last restore drill is older (a monthly drill plus a few days).
        type: float
        default: 35
      restarts_warn:
        description: Warn at this many container restarts (summed over the backend's pods).
        type: int
        default: 1
      restarts_fail:
        description: Fail at this many restarts.
        type: int
        default: 5
  fail_on:
    description:
      - V(fail) fails the task when any probe fails; V(warn) also when any probe warns;
        V(never) only reports.
    type: str
    choices: [fail, warn, never]
    default: fail
  validate_certs:
    description: Verify TLS certificates of the HTTP probes.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust (HTTP and TLS probes).
    type: path
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
seealso:
  - module: joelclaw.macmini.convex_admin_key
"""

EXAMPLES = r"""
- name: Check the Convex stack.
  joelclaw.macmini.convex_health:
    url: "{{ convex_cloud_origin }}"
    instance_name: "{{ convex_instance_name }}"
    admin_key_env_file: "{{ convex_admin_key_env_file }}"
    site_url: "{{ convex_site_origin }}"
    dashboard_url: "{{ convex_dashboard_url }}"
    kubeconfig: "{{ convex_kubeconfig }}"
    namespace: "{{ convex_namespace }}"
    statefulset: "{{ convex_backend_statefulset_name }}"
    backup_dir: "{{ convex_backup_dir }}"
    thresholds:
      backup_age_fail_hours: 30
  register: convex_health
"""

RETURN = r"""
verdict:
  description: The worst probe status, V(ok), V(warn) or V(fail).
  returned: always
  type: str
probes:
  description:
    - One entry per probe, in a fixed order, with C(name), C(status), C(value), C(hint),
      C(elapsed_ms) and probe-specific numbers (C(days_left), C(restarts), C(age_hours)).
  returned: always
  type: list
  elements: dict
report:
  description: One line per probe for people, C(STATUS  name  value  -- hint).
  returned: always
  type: list
  elements: str
counts:
  description: Number of probes per status.
  returned: always
  type: dict
elapsed_ms:
  description: Wall time of all probes together.
  returned: always
  type: int
"""

import time

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.urls import open_url
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file as env_file_reader
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_health as health
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import connection_module

THRESHOLDS = dict(
    tls_days_warn=dict(type="float", default=14),
    tls_days_fail=dict(type="float", default=3),
    backup_age_warn_hours=dict(type="float", default=26),
    backup_age_fail_hours=dict(type="float", default=50),
    restore_drill_warn_days=dict(type="float", default=35),
    restarts_warn=dict(type="int", default=1),
    restarts_fail=dict(type="int", default=5),
)
PROBE_NAMES = ("backend_version", "instance_name", "admin_key", "http_actions", "dashboard", "tls", "kubernetes", "backup_age",
               "offsite_age", "restore_drill")


def build_jobs(params, admin_key):
    t = params["timeouts"]
    limit = params["thresholds"]
    tmo = {name: float(t.get(name, params["timeout"])) for name in PROBE_NAMES}
    client = health.backend_client(params["url"], admin_key, params["timeout"], params["validate_certs"],
                                   params["ca_path"], params["instance_name"])
    jobs = [
        (["backend_version"], tmo["backend_version"], lambda: health.probe_version(client, tmo["backend_version"])),
        (["instance_name"], tmo["instance_name"],
         lambda: health.probe_instance_name(client, params["instance_name"], tmo["instance_name"])),
    ]
    if admin_key:
        jobs.append((["admin_key"], tmo["admin_key"], lambda: health.probe_admin_key(client, tmo["admin_key"])))
    if params["site_url"]:
        jobs.append((["http_actions"], tmo["http_actions"], lambda: health.probe_site(
            params["site_url"], params["site_path"], tmo["http_actions"], params["validate_certs"], params["ca_path"])))
    if params["dashboard_url"]:
        jobs.append((["dashboard"], tmo["dashboard"], lambda: health.probe_dashboard(
            params["dashboard_url"], tmo["dashboard"], params["validate_certs"], params["ca_path"])))
    tls_hosts = params["tls_hosts"]
    if tls_hosts is None:
        tls_hosts = [u for u in (params["url"], params["site_url"], params["dashboard_url"]) if u and u.startswith("https://")]
    seen = set()
    for target in tls_hosts:
        host, port = health.split_host(target)
        if (host, port) in seen:
            continue
        seen.add((host, port))
        jobs.append((["tls %s:%d" % (host, port)], tmo["tls"], lambda target=target: health.probe_tls(
            target, tmo["tls"], params["ca_path"], limit["tls_days_warn"], limit["tls_days_fail"])))
    if params["kubeconfig"]:
        jobs.append((["statefulset", "pod_restarts", "pvc"], tmo["kubernetes"], lambda: health.probe_kubernetes(
            params["kubeconfig"], params["namespace"], params["statefulset"], tmo["kubernetes"],
            limit["restarts_warn"], limit["restarts_fail"], params.get("context"))))
    if params["backup_dir"]:
        jobs.append((["backup_age"], tmo["backup_age"], lambda: health.probe_backup(
            params["backup_dir"], params["backup_pattern"], limit["backup_age_warn_hours"], limit["backup_age_fail_hours"],
            params["backup_require_manifest"], params["backup_job_file"])))
    if params["offsite_status_file"]:
        jobs.append((["offsite_age"], tmo["offsite_age"], lambda: health.probe_offsite(
            params["offsite_status_file"], limit["backup_age_warn_hours"], limit["backup_age_fail_hours"])))
    if params.get("restore_drill_file"):
        jobs.append((["restore_drill"], tmo["restore_drill"], lambda: health.probe_restore_drill(
            params["restore_drill_file"], limit["restore_drill_warn_days"])))
    return jobs


def main():
    # No admin key: the admin key probe is skipped.
    module = connection_module(
        key_required=False,
        instance_name=dict(type="str"),
        site_url=dict(type="str"),
        site_path=dict(type="str", default="/"),
        dashboard_url=dict(type="str"),
        tls_hosts=dict(type="list", elements="str"),
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
        namespace=dict(type="str", default="convex"),
        statefulset=dict(type="str", default="convex"),
        backup_dir=dict(type="path"),
        backup_pattern=dict(type="str", default="*.zip"),
        backup_require_manifest=dict(type="bool", default=True),
        offsite_status_file=dict(type="path"),
        restore_drill_file=dict(type="path"),
        backup_job_file=dict(type="path"),
        timeout=dict(type="float", default=5),
        timeouts=dict(type="dict", default={}),
        thresholds=dict(type="dict", default={}, options=THRESHOLDS, apply_defaults=True),
        fail_on=dict(type="str", choices=["fail", "warn", "never"], default="fail"),
    )
    params = module.params
    unknown = sorted(set(params["timeouts"]) - set(PROBE_NAMES))
    if unknown:
        module.fail_json(msg="timeouts has unknown probe names %s; known: %s" % (", ".join(unknown), ", ".join(PROBE_NAMES)))
    if params["kubeconfig"] and health.KUBERNETES_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=health.KUBERNETES_IMPORT_ERROR)
    admin_key, early = params["admin_key"], []
    if params["admin_key_env_file"]:
        # A missing or empty env file is a failed probe in the report, not a module failure.
        admin_key, problem = env_file_reader.admin_key_or_problem(params["admin_key_env_file"])
        if problem:
            early.append(health.Probe("admin_key", health.FAIL, None, problem))
        else:
            module.no_log_values.add(admin_key)
    health.use_transport(open_url)
    started = time.monotonic()
    try:
        jobs = build_jobs(params, admin_key)
    except ConvexError as exc:
        module.fail_json(msg=exc.message)
    probes = health.run_probes(jobs)
    if early:
        probes[2:2] = early
    verdict = health.worst(p["status"] for p in probes)
    counts = {s: sum(1 for p in probes if p["status"] == s) for s in (health.OK, health.WARN, health.FAIL)}
    result = dict(changed=False, verdict=verdict, probes=probes, report=health.report_lines(probes), counts=counts,
                  elapsed_ms=int((time.monotonic() - started) * 1000))
    failing = [p for p in probes if health.RANK[p["status"]] >= health.RANK[params["fail_on"]]] \
        if params["fail_on"] != "never" else []
    if failing:
        module.fail_json(msg="Convex health: %s (%s)" % (verdict.upper(), "; ".join(
            "%s: %s" % (p["name"], p["hint"] or p["value"]) for p in failing)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
