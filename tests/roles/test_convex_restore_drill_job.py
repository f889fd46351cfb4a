# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monthly drill's runner (roles/convex_backup/files/convex_restore_drill_job.py) with stand-in
commands instead of ansible-playbook (the real playbook run is test_convex_backup_drill_schedule.py):
a drill that stops before recording anything is recorded as failed (0600, the playbook's format, no
output in it), a drill the playbook recorded is left as it is, a drill that hangs is stopped."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from playbook_runner import ROOT

JOB = ROOT / "roles" / "convex_backup" / "files" / "convex_restore_drill_job.py"
SYSTEM_PYTHON = "/usr/bin/python3"
PYTHON = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable


def run(tmp_path, script, timeout=30):
    result = tmp_path / "state" / "restore-drill.json"
    config = tmp_path / "drill-config.json"
    config.write_text(json.dumps({"argv": [PYTHON, "-c", script, str(result)], "cwd": str(tmp_path), "env": {},
                                  "result_file": str(result), "timeout": timeout,
                                  "log_hint": "journalctl -u joelclaw-convex-restore-drill.service"}))
    proc = subprocess.run([PYTHON, "-I", "-S", str(JOB), "--config", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)
    return proc, result


def test_a_drill_that_stops_before_recording_is_recorded_as_failed(tmp_path):
    proc, result = run(tmp_path, "import sys; print('fatal: secret-ish output'); sys.exit(2)")
    assert proc.returncode == 2
    record = json.loads(result.read_text())
    assert record["ok"] is False and record["format"] == 1 and record["date_unix"] > 0
    assert record["problems"] == ["the scheduled drill (ansible-playbook) exited 2 before it recorded a result; "
                                  "see journalctl -u joelclaw-convex-restore-drill.service"]
    assert "secret-ish" not in result.read_text()
    assert stat.S_IMODE(os.stat(result).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(result.parent).st_mode) == 0o700


def test_a_result_the_playbook_recorded_is_kept(tmp_path):
    script = ("import json, sys, time; open(sys.argv[1], 'w').write(json.dumps({'ok': False, 'date_unix': time.time(),"
              " 'problems': ['tables differ from the manifest']})); sys.exit(2)")
    (tmp_path / "state").mkdir()
    proc, result = run(tmp_path, script)
    assert proc.returncode == 2
    assert json.loads(result.read_text())["problems"] == ["tables differ from the manifest"]


def test_a_passing_drill_exits_0_and_a_hanging_one_is_stopped(tmp_path):
    proc, result = run(tmp_path, "pass")
    assert proc.returncode == 0 and not result.exists()
    proc, result = run(tmp_path, "import time; time.sleep(30)", timeout=1)
    assert proc.returncode == 1
    assert "did not finish within 1s" in json.loads(result.read_text())["problems"][0]


@pytest.mark.parametrize("broken", ['{"argv": []}', "not json"])
def test_a_damaged_config_exits_1_without_a_traceback(tmp_path, broken):
    config = tmp_path / "drill-config.json"
    config.write_text(broken)
    proc = subprocess.run([PYTHON, "-I", "-S", str(JOB), "--config", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1 and "FAILED: cannot read the config" in proc.stderr and "Traceback" not in proc.stderr
