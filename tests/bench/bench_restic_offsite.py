# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: offsite restic copies of two backup sets of an unchanged backend (figures, not a test).

The Convex TEST STAND-IN runs as its own process on loopback with the 66 MB of incompressible rows
of bench_convex_backup.py (a 51 MB ZIP). Two sets are taken one after the other with nothing
changed in between, and each is copied with the collection's code, as the scheduled job runs it
(_convex_offsite.copy_offsite: stage, restic backup, forget --prune; the scheduled check is off
here), to a local restic repository with the real restic of scripts/build-restic.sh.

Targets (issue "Offsite, encrypted copies with restic"): the second copy takes at most 20% of the
first's time, and adds at most 5% to the repository. Exits 1 when one is missed.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SIZE_MB = 66  # as bench_convex_backup.py: deflated to about 51 MB

from bench_convex_backup import STANDIN, free_port, wait_up  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline  # noqa: E402  pylint: disable=wrong-import-position

TIME_RATIO, SIZE_RATIO = 0.20, 0.05


def tree_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(path) for f in files)


def main():
    restic = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build-restic.sh")], capture_output=True,
                            text=True, check=True).stdout.strip()
    secret = secrets.token_hex(32)
    port = free_port()
    proc = subprocess.Popen([sys.executable, STANDIN, "--port", str(port), "--instance-name", "joelclaw",
                             "--instance-secret", secret, "--seed-random-mb", str(SIZE_MB)],
                            stderr=subprocess.DEVNULL)
    workdir = tempfile.mkdtemp(prefix="bench-restic-offsite-")
    try:
        url = "http://127.0.0.1:%d" % port
        wait_up(url)
        key = subprocess.run([sys.executable, STANDIN, "--instance-name", "joelclaw", "--instance-secret", secret,
                              "--print-admin-key"], capture_output=True, text=True, check=True).stdout.strip()
        client = ConvexClient(url, key, timeout=120)
        backup_dir = os.path.join(workdir, "backups")
        password_file = os.path.join(workdir, "password")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
            out.write(secrets.token_hex(16))
        repo = {"name": "bench", "type": "local", "path": os.path.join(workdir, "repo")}
        config = {"restic": restic, "password_file": password_file, "cache_dir": os.path.join(workdir, "cache"),
                  "status_file": os.path.join(workdir, "status.json"), "stage_dir": os.path.join(workdir, "stage"),
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
        for _round in range(2):
            manifest = backup.take_backup(client, backup_dir, True, Deadline(600), request_timeout=120)
            lines = []
            started = time.monotonic()
            failed = offsite.copy_offsite(config, manifest, backup_dir, "joelclaw", lines.append,
                                          backup.write_private_json, restic=runner)
            elapsed = time.monotonic() - started
            if failed:
                raise SystemExit("offsite copy failed: %s" % lines)
            forget = "forget --prune" if any("retention removed" in line for line in lines) else \
                "no forget: it already ran today"
            figures.append((elapsed, backup_times[-1], tree_size(repo["path"]), manifest, forget))
        (first_s, first_backup_s, size1, manifest1, forget1), (second_s, second_backup_s, size2, manifest2, forget2) = figures
        added1, added2 = size1 - base_size, size2 - size1
        same_zip = manifest1["sha256"] == manifest2["sha256"]
        print("restic %s offsite copies of an unchanged %d MB (raw rows) stand-in backend, %.1f MB ZIP, local repository:"
              % (subprocess.run([restic, "version"], capture_output=True, text=True, check=True).stdout.split()[1], SIZE_MB,
                 manifest1["size"] / 1e6))
        print("  the two exports' ZIPs are %s" % ("byte-identical" if same_zip else "different bytes"))
        print("  first copy  (stage, restic backup, %s): %6.2f s (restic backup %.2f s), repository +%.2f MB"
              % (forget1, first_s, first_backup_s, added1 / 1e6))
        print("  second copy (stage, restic backup, %s): %6.2f s (restic backup %.2f s), repository +%.3f MB"
              % (forget2, second_s, second_backup_s, added2 / 1e6))
        time_ratio, size_ratio = second_s / first_s, added2 / float(size1)
        print("  second / first time: %.1f%% (target <= %d%%); second copy adds %.2f%% to the repository (target <= %d%%)"
              % (time_ratio * 100, TIME_RATIO * 100, size_ratio * 100, SIZE_RATIO * 100))
        if time_ratio > TIME_RATIO or size_ratio > SIZE_RATIO:
            print("  MISSED a target")
            return 1
        return 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
