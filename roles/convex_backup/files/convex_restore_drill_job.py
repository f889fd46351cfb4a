# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled restore drill (roles/convex_backup, tasks/drill_install.yml), run by the systemd timer
(Linux) or the LaunchDaemon (macOS) with the system Python, -I -S, standard library only.

The drill needs the cluster (it creates a second StatefulSet), so this runner does not do it itself: it runs
the collection's own playbooks/restore-drill.yml with the venv's ansible-playbook and the inventory the
role was converged with (argv, environment and working directory from drill-config.json, written by the
role). The playbook records its outcome in the drill result file, which the health report's restore_drill
probe reads. When the playbook stops before it could record anything (no backup set, the cluster or the
drill URL unreachable, a vaulted inventory without a password file), this runner records a failed drill in
that same file, so that health turns to fail instead of only warning weeks later.
Exit status: the playbook's (0 when the drill passed).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

# plugins/module_utils/_convex_drill.py RESULT_FORMAT: the file's format is the playbook's.
RESULT_FORMAT = 1
REQUIRED = {"argv": list, "cwd": str, "env": dict, "result_file": str, "timeout": (int, float), "log_hint": str}


def log(message):
    sys.stderr.write("convex-restore-drill: %s\n" % message)
    sys.stderr.flush()


def load_config(path):
    with open(path, "r") as handle:
        config = json.load(handle)
    for key, kind in REQUIRED.items():
        if not isinstance(config.get(key), kind):
            raise ValueError("%s=%r is not a %s" % (key, config.get(key), getattr(kind, "__name__", "number")))
    if not config["argv"] or not all(isinstance(arg, str) for arg in config["argv"]):
        raise ValueError("argv must be a non-empty list of strings")
    return config


def recorded_since(result_file, started):
    """True when the result file holds a drill that finished after `started` (the playbook wrote it)."""
    try:
        with open(result_file, "r") as handle:
            return float(json.load(handle)["date_unix"]) >= started - 1
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_failed(result_file, started, problem):
    """A failed drill record in the playbook's format (_convex_drill.result_record), 0600, atomically."""
    finished = time.time()
    record = {
        "format": RESULT_FORMAT,
        "ok": False,
        "date": datetime.datetime.fromtimestamp(finished, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "date_unix": round(finished, 3),
        "rto_seconds": None,
        "backup": None,
        "documents": None,
        "problems": [problem],
        "scheduled": True,
    }
    directory = os.path.dirname(os.path.abspath(result_file))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".restore-drill.")
    try:
        with os.fdopen(handle, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(record, out, indent=2, sort_keys=True)
        os.replace(temp, result_file)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        log("FAILED: cannot read the config %s: %s" % (args.config, exc))
        return 1
    started = time.time()
    log("restore drill: %s" % " ".join(config["argv"][1:]))
    try:
        # The playbook's output goes to this job's own log (the journal, or the LaunchDaemon's log file).
        proc = subprocess.run(config["argv"], cwd=config["cwd"], env=config["env"], stdin=subprocess.DEVNULL,
                              timeout=config["timeout"], check=False)
        status, problem = proc.returncode, "the scheduled drill (ansible-playbook) exited %d" % proc.returncode
    except subprocess.TimeoutExpired:
        status, problem = 1, "the scheduled drill did not finish within %gs" % config["timeout"]
    except OSError as exc:
        status, problem = 1, "the scheduled drill could not start %s: %s" % (config["argv"][0], exc.strerror or exc)
    if status == 0:
        log("restore drill passed (recorded in %s)" % config["result_file"])
        return 0
    if not recorded_since(config["result_file"], started):
        # Never the playbook's output here (the record is read by health and sent in alerts): only where to look.
        write_failed(config["result_file"], started, "%s before it recorded a result; see %s"
                     % (problem, config["log_hint"]))
    log("FAILED: %s (recorded in %s)" % (problem, config["result_file"]))
    return status if status > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
