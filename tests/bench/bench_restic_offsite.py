# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: offsite restic copies of two backup sets of an unchanged backend, and an offsite restore
(figures, not a test).

The Convex TEST STAND-IN runs as its own process on loopback with the 66 MB of incompressible rows of
standin_dataset.py (a 51 MB ZIP). Two sets are taken one after the other with nothing changed in between.
Each round copies them, first the one then the other, with the collection's code as the scheduled job
runs it (_convex_offsite.copy_offsite: stage, restic backup, forget --prune; the scheduled check is off
here) to a NEW local restic repository (the real restic of scripts/build-restic.sh). ROUNDS rounds; the
median is reported: one round's ratio moved by several points with the machine's load.

Targets (issue "Offsite, encrypted copies with restic"): the second copy takes at most 20% of the
first's time, and adds at most 5% to the repository. Exits 1 when a median misses one.

Also printed: the fixed cost of any restic run against the repository (`restic cat config`: the scrypt
key derivation calibrated at init, and opening the repository), which bounds the second copy from below
whatever the data; and the offsite restore time (restic restore of the newest set into a temporary
directory, verify, import into the stand-in), the RTO of a restore from offsite.
"""
from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from standin_dataset import ROOT, SIZE_MB, standin_dataset  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline  # noqa: E402  pylint: disable=wrong-import-position

TIME_RATIO, SIZE_RATIO = 0.20, 0.05
ROUNDS = int(os.environ.get("BENCH_RESTIC_ROUNDS", "5"))


def tree_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(path) for f in files)


def one_round(restic, workdir, backup_dir, manifests, password_file, index):
    """Copy both sets to a new repository; returns (first_s, first_backup_s, second_s, second_backup_s,
    base_size, size1, size2, forget1, forget2, config, repo, runner)."""
    base = os.path.join(workdir, "round%d" % index)
    os.makedirs(base)
    repo = {"name": "bench", "type": "local", "path": os.path.join(base, "repo")}
    config = {"restic": restic, "password_file": password_file, "cache_dir": os.path.join(base, "cache"),
              "status_file": os.path.join(base, "status.json"), "stage_dir": os.path.join(base, "stage"),
              "repositories": [repo], "keep_daily": 7, "keep_weekly": 4, "check_every_days": 0,
              "check_subset": None, "timeout": 600}
    runner = offsite.Restic(restic, password_file, config["cache_dir"], timeout=600)
    backup_times = []
    original = runner.copy_set

    def timed_copy_set(*args, **kwargs):
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            backup_times.append(time.monotonic() - started)

    runner.copy_set = timed_copy_set
    # The repository exists before the first copy, so both copies do the same work but for the data.
    runner.init(repo)
    base_size = tree_size(repo["path"])
    figures = []
    for manifest in manifests:
        lines = []
        started = time.monotonic()
        failed = offsite.copy_offsite(config, manifest, backup_dir, "joelclaw", lines.append,
                                      backup.write_private_json, restic=runner)
        elapsed = time.monotonic() - started
        if failed:
            raise SystemExit("offsite copy failed: %s" % lines)
        forget = "forget --prune" if any("retention removed" in line for line in lines) else \
            "no forget: it already ran today"
        figures.append((elapsed, backup_times[-1], tree_size(repo["path"]), forget))
    started = time.monotonic()
    runner.call(repo, ["cat", "config"])
    fixed_s = time.monotonic() - started
    (first_s, first_backup_s, size1, forget1), (second_s, second_backup_s, size2, forget2) = figures
    return dict(first_s=first_s, first_backup_s=first_backup_s, second_s=second_s, second_backup_s=second_backup_s,
                added1=size1 - base_size, added2=size2 - size1, size1=size1, forget1=forget1, forget2=forget2,
                fixed_s=fixed_s, repo=repo, runner=runner)


def main():
    restic = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build-restic.sh")], capture_output=True,
                            text=True, check=True).stdout.strip()
    with standin_dataset("bench-restic-offsite-") as (client, workdir):
        backup_dir = os.path.join(workdir, "backups")
        password_file = os.path.join(workdir, "password")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
            out.write(secrets.token_hex(16))
        manifests = [backup.take_backup(client, backup_dir, True, Deadline(600), request_timeout=120) for _set in range(2)]
        rounds = [one_round(restic, workdir, backup_dir, manifests, password_file, i) for i in range(ROUNDS)]

        same_zip = manifests[0]["sha256"] == manifests[1]["sha256"]
        print("restic %s offsite copies of an unchanged %d MB (raw rows) stand-in backend, %.1f MB ZIP, local repository,"
              " %d rounds (median; min-max):"
              % (subprocess.run([restic, "version"], capture_output=True, text=True, check=True).stdout.split()[1], SIZE_MB,
                 manifests[0]["size"] / 1e6, ROUNDS))
        print("  the two exports' ZIPs are %s" % ("byte-identical" if same_zip else "different bytes"))

        def show(key, scale=1.0, fmt="%.2f"):
            values = [r[key] * scale for r in rounds]
            return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values), max(values))

        print("  first copy  (stage, restic backup, %s): %s s (restic backup %s s), repository +%s MB"
              % (rounds[0]["forget1"], show("first_s"), show("first_backup_s"), show("added1", 1e-6)))
        print("  second copy (stage, restic backup, %s): %s s (restic backup %s s), repository +%s MB"
              % (rounds[0]["forget2"], show("second_s"), show("second_backup_s"), show("added2", 1e-6, "%.3f")))
        print("  fixed cost of one restic run (restic cat config: key derivation + open): %s s" % show("fixed_s"))
        ratios = [r["second_s"] / r["first_s"] for r in rounds]
        time_ratio = statistics.median(ratios)
        size_ratio = statistics.median([r["added2"] / float(r["size1"]) for r in rounds])
        print("  second / first time: median %.1f%% (rounds: %s; target <= %d%%); second copy adds %.2f%% to the"
              " repository (target <= %d%%)" % (time_ratio * 100, ", ".join("%.1f%%" % (x * 100) for x in ratios),
                                                TIME_RATIO * 100, size_ratio * 100, SIZE_RATIO * 100))

        # Offsite restore: restic restore of the newest set into a temporary directory, verify, import.
        last = rounds[-1]
        started = time.monotonic()
        target = tempfile.mkdtemp(prefix="restore-", dir=workdir)
        restored = last["runner"].restore(last["repo"], "joelclaw", None, target)
        restic_s = time.monotonic() - started
        entry = backup.resolve(target, restored["set"] + ".zip")
        result = backup.restore_set(client, entry, Deadline(600), 5 * 1024 * 1024, request_timeout=120)
        total_s = time.monotonic() - started
        print("  offsite restore (restic restore %.2f s, then verify + upload + replaceAll + env): %.2f s, %d documents"
              % (restic_s, total_s, result["rows_written"]))
        if time_ratio > TIME_RATIO or size_ratio > SIZE_RATIO:
            print("  MISSED a target")
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
