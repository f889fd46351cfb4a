# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: a no-op converge of site.yml on the molecule default host, against its first converge.

Targets (issue #13, "Faster when nothing changed"), both from ONE run of this script (one transport):
  * the no-op converge takes <= 0.35 x the first converge;
  * the no-op converge takes <= 15 s.
On the local transport the no-op converge runs BENCH_NOOP_RUNS times (default 3) right after the first and
the median run is judged (all are printed): the same tree's single no-op moved by 30% from one run to the
next with the machine's speed (CONTRIBUTING.md, "No-op converge"), and the floor below shows how fast the
machine was.

The same two converges are measured over two transports, one after the other:
  * podman: molecule's own run of the default scenario (destroy, create, prepare, then converge twice,
    timed, then destroy), over its containers.podman.podman connection: every module is several
    `podman exec` calls and there is no pipelining, so each task that reaches the host costs seconds.
  * local (the Mac's transport): the Mac converges itself with ansible_connection: local
    (inventory/hosts.yml). Here ansible-playbook runs INSIDE a container of the same host: the same
    image, command and systemd as molecule/default/molecule.yml's platform, the same hostname and
    inventory name (joelclaw-macmini-test), the same prepare.yml, host_vars and converge.yml; the only
    differences are the container's name (joelclaw-macmini-bench, so it never collides with a molecule
    run of the default scenario) and read-only bind mounts of this checkout, its venv, that venv's
    base Python and its collections, at the same paths (plus a scratch directory for the inventory and
    the timings). The converges run with -c local as the Mac's do, so modules start without a
    transport in between; this is the figure the targets are judged on.
BENCH_TRANSPORTS=podman or =local runs one of them (default: both); BENCH_LOCAL_CONTAINER names the container.

A run's time is the ansible-playbook run as tests/bench/callback/bench_timings.py sees it (from the
callback's load to the stats), so molecule's own start-up is not counted in either figure. The no-op
converge must report changed=0 (a no-op that changes something is not a no-op).
Prints both figures, the ratio, the task counts, the time per role and the slowest tasks of each run,
and the floor: what one trivial task costs on that host and transport (a module that reaches it: ping;
one that does not: debug), measured right after the no-op converge.
Exit status 1 when a target is missed on the local transport, or when a no-op converge changed
something on either (make bench runs every benchmark, then fails).
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.environ.get("BENCH_SCENARIO", "default")
TRANSPORTS = [name for name in os.environ.get("BENCH_TRANSPORTS", "podman,local").split(",") if name]
RATIO_TARGET = 0.35
NOOP_TARGET = 15.0
SLOWEST = 12
FLOOR_TASKS = 8
NOOP_RUNS = int(os.environ.get("BENCH_NOOP_RUNS", "3"))
HOST = "joelclaw-macmini-test"  # molecule/default/molecule.yml's platform
LOCAL_CONTAINER = os.environ.get("BENCH_LOCAL_CONTAINER", "joelclaw-macmini-bench")
LABELS = {
    "podman": "containers.podman.podman (molecule's connection: podman exec, no pipelining)",
    "local": "local (ansible-playbook inside the same host, as on the Mac)",
}
# Actions that run on the controller only (no module reaches the host): the rest of the tasks that ran
# (ok or changed) are the round trips the floor prices; a loop counts once here.
CONTROLLER_ONLY = {"debug", "assert", "set_fact", "fail", "include_tasks", "include_role", "import_tasks",
                   "import_role", "meta", "include_vars", "add_host", "group_by", "set_stats",
                   "validate_argument_spec"}
FLOOR_PLAY = """
- name: Measure the per-task floor
  hosts: all
  gather_facts: false
  tasks:
%s""" % "".join("    - name: ping %d\n      ansible.builtin.ping:\n    - name: debug %d\n      ansible.builtin.debug:\n"
                "        msg: floor\n" % (i, i) for i in range(FLOOR_TASKS))


def base_env():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""))
    return env


def timing_env(timings):
    return {"ANSIBLE_CALLBACK_PLUGINS": os.path.join(ROOT, "tests", "bench", "callback"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timings", "BENCH_TIMINGS_FILE": timings}


def run(argv, env=None, what=None):
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        raise SystemExit("%s failed (exit %d)" % (what or " ".join(argv[:3]), proc.returncode))
    return proc.stdout


def molecule(step, env, timings=None):
    run_env = dict(env, **timing_env(timings)) if timings else env
    run([os.path.join(ROOT, ".venv", "bin", "molecule"), step, "-s", SCENARIO], run_env,
        "molecule %s -s %s" % (step, SCENARIO))


def median_floor(timings):
    with open(timings, encoding="utf-8") as handle:
        tasks = json.load(handle)["tasks"]

    def median(prefix):
        values = sorted(task["seconds"] for task in tasks if task["name"].startswith(prefix))
        return values[len(values) // 2]

    return median("ping"), median("debug")


def podman_transport(env, scratch):
    """The default scenario through molecule: first and no-op converge, then the floor."""
    first, noop = os.path.join(scratch, "first.json"), os.path.join(scratch, "noop.json")
    playbook, floor = os.path.join(scratch, "floor.yml"), os.path.join(scratch, "floor.json")
    molecule("destroy", env)
    try:
        molecule("create", env)
        molecule("prepare", env)
        molecule("converge", env, first)
        molecule("converge", env, noop)
        run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", HOST + ",", "-c",
             "containers.podman.podman", playbook], dict(env, **timing_env(floor)), "the floor playbook")
    finally:
        molecule("destroy", env)
    return first, [noop], floor


def mounts(scratch):
    """What ansible-playbook needs inside the container, at the paths it has here: this checkout, the
    venv, the venv's base Python (unless it is the system one, which the image has too) and where the
    collections really are. Nested paths are covered by their parent."""
    python = os.path.join(ROOT, ".venv", "bin", "python")
    base = subprocess.run([python, "-c", "import sys; print(sys.base_prefix)"], check=True, text=True,
                          stdout=subprocess.PIPE).stdout.strip()
    paths = {os.path.realpath(ROOT), os.path.realpath(os.path.join(ROOT, ".venv"))}
    if not os.path.realpath(base).startswith("/usr"):
        paths.add(os.path.realpath(base))
    collections = os.path.join(ROOT, ".collections", "ansible_collections")
    for entry in glob.glob(os.path.join(collections, "*")) + glob.glob(os.path.join(collections, "*", "*")):
        paths.add(os.path.realpath(entry))
    keep = sorted(path for path in paths
                  if not any(path != other and path.startswith(other.rstrip("/") + "/") for other in paths))
    return [arg for path in keep for arg in ("-v", "%s:%s:ro" % (path, path))] + ["-v", "%s:%s" % (scratch, scratch)]


def exec_env(values):
    return [arg for key, value in values.items() for arg in ("-e", "%s=%s" % (key, value))]


def local_transport(env, scratch):
    """The same host with ansible-playbook running in it (-c local): see the module docstring."""
    with open(os.path.join(ROOT, "molecule", "default", "molecule.yml"), encoding="utf-8") as handle:
        platform = yaml.safe_load(handle)["platforms"][0]
    host_vars = os.path.join(ROOT, "molecule", "default", "host_vars")
    group = platform["groups"][0]
    for kind, extra in (("podman", {"ansible_host": LOCAL_CONTAINER, "ansible_connection": "containers.podman.podman"}),
                        ("local", {"ansible_connection": "local"})):
        os.makedirs(os.path.join(scratch, kind))
        os.symlink(host_vars, os.path.join(scratch, kind, "host_vars"))
        with open(os.path.join(scratch, kind, "hosts.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"all": {"children": {group: {"hosts": {platform["name"]: extra}}}}}, handle)
    first = os.path.join(scratch, "local-first.json")
    noops = [os.path.join(scratch, "local-noop-%d.json" % number) for number in range(1, max(NOOP_RUNS, 1) + 1)]
    floor = os.path.join(scratch, "local-floor.json")
    subprocess.run(["podman", "rm", "-f", "-i", LOCAL_CONTAINER], stdout=subprocess.DEVNULL, check=False)
    run(["podman", "run", "-d", "--name", LOCAL_CONTAINER, "--hostname", platform["name"], "--systemd",
         str(platform.get("systemd", "always")), "--label", "owner=bench_noop_converge"] + mounts(scratch)
        + [platform["image"], platform["command"]], what="podman run " + LOCAL_CONTAINER)
    try:
        run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(scratch, "podman", "hosts.yml"),
             os.path.join(ROOT, "molecule", "default", "prepare.yml")], env, "prepare.yml on " + LOCAL_CONTAINER)
        # molecule's provisioner env (molecule/default/molecule.yml) and the venv first on PATH.
        inner = ["podman", "exec", "-w", ROOT] + exec_env({
            "ANSIBLE_COLLECTIONS_PATH": env["ANSIBLE_COLLECTIONS_PATH"], "ANSIBLE_CONFIG": env["ANSIBLE_CONFIG"],
            "ANSIBLE_ROLES_PATH": os.path.join(ROOT, "roles"),
            "PATH": os.path.join(ROOT, ".venv", "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
        playbook = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i",
                    os.path.join(scratch, "local", "hosts.yml")]
        converge = os.path.join(ROOT, "molecule", "default", "converge.yml")
        for timings in [first] + noops:
            run(inner + exec_env(timing_env(timings)) + [LOCAL_CONTAINER]
                + playbook + [converge], what="converge (local) in " + LOCAL_CONTAINER)
        run(inner + exec_env(timing_env(floor)) + [LOCAL_CONTAINER] + playbook
            + [os.path.join(scratch, "floor.yml")], what="the floor playbook (local)")
    finally:
        subprocess.run(["podman", "rm", "-f", "-i", LOCAL_CONTAINER], stdout=subprocess.DEVNULL, check=False)
    return first, noops, floor


def summary(label, data):
    tasks = data["tasks"]
    totals = next(iter(data["totals"].values()))
    per_role = defaultdict(float)
    for task in tasks:
        per_role[task["role"] or "(play tasks)"] += task["seconds"]
    print("%s: %.1f s, %d tasks (ok=%d changed=%d skipped=%d)" % (
        label, data["wall_seconds"], len(tasks), totals.get("ok", 0), totals.get("changed", 0),
        totals.get("skipped", 0)))
    reached = [task for task in tasks if task["status"] in ("ok", "changed", "failed")
               and task["action"].rsplit(".", 1)[-1] not in CONTROLLER_ONLY]
    print("  tasks that ran a module on the host: %d (a loop counts once); per role: %s" % (len(reached), ", ".join(
        "%s %d" % (role or "(play tasks)", sum(1 for task in reached if task["role"] == role))
        for role in sorted({task["role"] for task in reached}))))
    roles = sorted(per_role.items(), key=lambda item: -item[1])
    print("  per role: " + ", ".join("%s %.1f s" % item for item in roles))
    print("  slowest tasks:")
    for task in sorted(tasks, key=lambda task: -task["seconds"])[:SLOWEST]:
        # A role's task name already starts with "<role> : " (Task.get_name()).
        print("    %6.2f s  %-8s %s" % (task["seconds"], task["status"], task["name"]))
    return totals


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def report(transport, files):
    first_file, noop_files, floor_file = files
    first = load(first_file)
    noops = [load(path) for path in noop_files]
    # The median run (by wall time) is the one judged and summarised.
    noop = sorted(noops, key=lambda run: run["wall_seconds"])[len(noops) // 2]
    remote, local = median_floor(floor_file)
    judged = transport == "local"
    print("== transport: %s%s" % (LABELS[transport], "" if judged else " (for information: not the Mac's transport)"))
    print("floor: %.2f s per task that reaches the host (ping), %.2f s per task that does not (debug), median of %d" % (
        remote, local, FLOOR_TASKS))
    summary("first converge", first)
    if len(noops) > 1:
        print("no-op converges, in order: %s; the median one is judged and shown below" % ", ".join(
            "%.1f s" % run["wall_seconds"] for run in noops))
    summary("no-op converge" + (" (median of %d)" % len(noops) if len(noops) > 1 else ""), noop)
    ratio = noop["wall_seconds"] / first["wall_seconds"]
    print("no-op / first = %.2f (target <= %.2f); no-op %.1f s (target <= %.0f s)%s" % (
        ratio, RATIO_TARGET, noop["wall_seconds"], NOOP_TARGET, "" if judged else "; targets not judged here"))
    failed = []
    for number, run_data in enumerate(noops, 1):
        changed = [task["name"] for task in run_data["tasks"] if task["status"] == "changed"]
        if changed:
            failed.append("%s: no-op converge %d changed %d task(s): %s" % (
                transport, number, len(changed), ", ".join(changed)))
    if judged and ratio > RATIO_TARGET:
        failed.append("%s: ratio %.2f > %.2f" % (transport, ratio, RATIO_TARGET))
    if judged and noop["wall_seconds"] > NOOP_TARGET:
        failed.append("%s: no-op %.1f s > %.0f s" % (transport, noop["wall_seconds"], NOOP_TARGET))
    return failed


def main():
    env = base_env()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as scratch:
        with open(os.path.join(scratch, "floor.yml"), "w", encoding="utf-8") as handle:
            handle.write(FLOOR_PLAY)
        if "podman" in TRANSPORTS:
            results["podman"] = podman_transport(env, scratch)
        if "local" in TRANSPORTS:
            results["local"] = local_transport(env, scratch)
        print("load average at the end: %s" % " ".join("%.1f" % value for value in os.getloadavg()))
        failed = []
        for transport, files in results.items():
            failed += report(transport, files)
    for problem in failed:
        print("MISSED: " + problem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
