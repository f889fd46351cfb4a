# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: convex_health against the Convex TEST STAND-IN on loopback.

Targets:
  * all probes healthy: <= 300 ms (median of 5 runs of the whole module, in-process);
  * one endpoint hanging: total <= that probe's timeout + 200 ms (the probes run concurrently).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "standins", "convex"))

import convex_standin  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.modules import convex_health  # noqa: E402  pylint: disable=wrong-import-position

HEALTHY_TARGET = 0.300
HANG_TIMEOUT = 1.0
HANG_SLACK = 0.200
RUNS = 5


def run_module(args):
    out = io.StringIO()
    started = time.perf_counter()
    with patch_module_args(dict(args)), contextlib.redirect_stdout(out):
        try:
            convex_health.main()
        except SystemExit:
            pass
    return time.perf_counter() - started, json.loads(out.getvalue())


def main():
    standin = convex_standin.ConvexStandin("bench", secrets.token_hex(32), site_port=0, dashboard_port=0).start()
    try:
        with tempfile.TemporaryDirectory() as backups:
            with open(os.path.join(backups, "snapshot_bench_1.zip"), "wb") as handle:
                handle.write(b"zip")
            with open(os.path.join(backups, "snapshot_bench_1.manifest.json"), "w") as handle:
                handle.write("{}")
            args = {"url": standin.url, "instance_name": "bench", "admin_key": standin.admin_key(),
                    "site_url": standin.site_url, "dashboard_url": standin.dashboard_url, "backup_dir": backups,
                    "timeout": 5}
            run_module(args)  # warm-up: imports, first connections
            healthy = []
            for _run in range(RUNS):
                took, result = run_module(args)
                if result["verdict"] != "ok":
                    print("unexpected verdict %s: %s" % (result["verdict"], result["report"]))
                    return 2
                healthy.append(took)
            probes = len(result["probes"])
            standin.state.hang["/version"] = 5.0
            hang_took, hang_result = run_module(dict(args, timeouts={"backend_version": HANG_TIMEOUT}, fail_on="never"))
            hung = [p for p in hang_result["probes"] if p["name"] == "backend_version"][0]
            others_ok = all(p["status"] == "ok" for p in hang_result["probes"] if p["name"] != "backend_version")
    finally:
        standin.stop()
    healthy_t = statistics.median(healthy)
    hang_target = HANG_TIMEOUT + HANG_SLACK
    ok_healthy, ok_hang = healthy_t <= HEALTHY_TARGET, hang_took <= hang_target and hung["status"] == "fail" and others_ok
    print("convex_health benchmark (%d probes, stand-in on loopback, in-process module runs)" % probes)
    print("  all healthy      median %5.0f ms  (%s)  target <= %.0f ms  %s" % (
        healthy_t * 1000, ", ".join("%.0f" % (t * 1000) for t in healthy), HEALTHY_TARGET * 1000,
        "MET" if ok_healthy else "MISSED"))
    print("  /version hangs   %5.0f ms  (probe timeout %.0f ms; %s: %s)  target <= %.0f ms  %s" % (
        hang_took * 1000, HANG_TIMEOUT * 1000, hung["status"], hung["hint"], hang_target * 1000,
        "MET" if ok_hang else "MISSED"))
    return 0 if ok_healthy and ok_hang else 1


if __name__ == "__main__":
    sys.exit(main())
