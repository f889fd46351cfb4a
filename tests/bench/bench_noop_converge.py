# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: a no-op converge of site.yml on the molecule default host, against its first converge.

Targets (issue #13, "Faster when nothing changed"), both from ONE run of this script:
  * the no-op converge takes <= 0.35 x the first converge;
  * the no-op converge takes <= 15 s.

Steps: molecule destroy, create, prepare (not timed); converge (the first, timed); converge again (the
no-op, timed, and it must report changed=0: a no-op that changes something is not a no-op); destroy.
A run's time is the ansible-playbook run as tests/bench/callback/bench_timings.py sees it (from the
callback's load to the stats), so molecule's own start-up is not counted in either figure.
Prints both figures, the ratio, the task counts, the time per role and the slowest tasks of each run,
and the floor: what one trivial task costs on that host (a module that reaches it: ping; one that does not:
debug), measured right after the no-op converge.
Transport: molecule's containers.podman.podman connection (every module is several `podman exec` calls; it
has no pipelining). The Mac converges with ansible_connection: local, so its figures are lower.
Exit status 1 when a target is missed (make bench runs every benchmark, then fails).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.environ.get("BENCH_SCENARIO", "default")
RATIO_TARGET = 0.35
NOOP_TARGET = 15.0
SLOWEST = 12
FLOOR_TASKS = 8
HOST = "joelclaw-macmini-test"  # molecule/default/molecule.yml's platform
TRANSPORT = "containers.podman.podman (podman exec, no pipelining)"
FLOOR_PLAY = """
- name: Measure the per-task floor
  hosts: all
  gather_facts: false
  tasks:
%s""" % "".join("    - name: ping %d\n      ansible.builtin.ping:\n    - name: debug %d\n      ansible.builtin.debug:\n"
                "        msg: floor\n" % (i, i) for i in range(FLOOR_TASKS))


def molecule(step, env, timings=None):
    run_env = dict(env)
    if timings:
        run_env.update(ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "bench", "callback"),
                       ANSIBLE_CALLBACKS_ENABLED="bench_timings", BENCH_TIMINGS_FILE=timings)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "molecule"), step, "-s", SCENARIO], cwd=ROOT,
                          env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        raise SystemExit("molecule %s -s %s failed (exit %d)" % (step, SCENARIO, proc.returncode))
    return time.monotonic() - started


def floor(env, scratch):
    """Median seconds of a trivial task that reaches the host (ping) and one that does not (debug)."""
    playbook, timings = os.path.join(scratch, "floor.yml"), os.path.join(scratch, "floor.json")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(FLOOR_PLAY)
    run_env = dict(env, ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "tests", "bench", "callback"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_timings", BENCH_TIMINGS_FILE=timings)
    subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", HOST + ",",
                    "-c", "containers.podman.podman", playbook], cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT, check=True)
    with open(timings, encoding="utf-8") as handle:
        tasks = json.load(handle)["tasks"]

    def median(prefix):
        values = sorted(task["seconds"] for task in tasks if task["name"].startswith(prefix))
        return values[len(values) // 2]

    return median("ping"), median("debug")


def summary(label, data):
    tasks = data["tasks"]
    totals = next(iter(data["totals"].values()))
    per_role = defaultdict(float)
    for task in tasks:
        per_role[task["role"] or "(play tasks)"] += task["seconds"]
    print("%s: %.1f s, %d tasks (ok=%d changed=%d skipped=%d)" % (
        label, data["wall_seconds"], len(tasks), totals.get("ok", 0), totals.get("changed", 0),
        totals.get("skipped", 0)))
    roles = sorted(per_role.items(), key=lambda item: -item[1])
    print("  per role: " + ", ".join("%s %.1f s" % item for item in roles))
    print("  slowest tasks:")
    for task in sorted(tasks, key=lambda task: -task["seconds"])[:SLOWEST]:
        # A role's task name already starts with "<role> : " (Task.get_name()).
        print("    %6.2f s  %-8s %s" % (task["seconds"], task["status"], task["name"]))
    return totals


def main():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""))
    with tempfile.TemporaryDirectory() as scratch:
        first_file, noop_file = os.path.join(scratch, "first.json"), os.path.join(scratch, "noop.json")
        molecule("destroy", env)
        try:
            molecule("create", env)
            molecule("prepare", env)
            molecule("converge", env, first_file)
            molecule("converge", env, noop_file)
            remote, local = floor(env, scratch)
        finally:
            molecule("destroy", env)
        with open(first_file, encoding="utf-8") as handle:
            first = json.load(handle)
        with open(noop_file, encoding="utf-8") as handle:
            noop = json.load(handle)
    print("transport: %s; load average at the end: %s" % (TRANSPORT, " ".join(
        "%.1f" % value for value in os.getloadavg())))
    print("floor: %.2f s per task that reaches the host (ping), %.2f s per task that does not (debug), median of %d" % (
        remote, local, FLOOR_TASKS))
    summary("first converge", first)
    noop_totals = summary("no-op converge", noop)
    ratio = noop["wall_seconds"] / first["wall_seconds"]
    print("no-op / first = %.2f (target <= %.2f); no-op %.1f s (target <= %.0f s)" % (
        ratio, RATIO_TARGET, noop["wall_seconds"], NOOP_TARGET))
    failed = []
    if noop_totals.get("changed", 0):
        failed.append("the no-op converge changed %d task(s): %s" % (noop_totals["changed"], ", ".join(
            task["name"] for task in noop["tasks"] if task["status"] == "changed")))
    if ratio > RATIO_TARGET:
        failed.append("ratio %.2f > %.2f" % (ratio, RATIO_TARGET))
    if noop["wall_seconds"] > NOOP_TARGET:
        failed.append("no-op %.1f s > %.0f s" % (noop["wall_seconds"], NOOP_TARGET))
    for problem in failed:
        print("MISSED: " + problem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
