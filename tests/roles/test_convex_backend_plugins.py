# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small plugins behind convex_backend: the instance-secret module and two filters.

The module runs for real through ansible (ad-hoc, connection local); the filters are imported
from the collection as Ansible would load them.
"""
from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.joelclaw.macmini.plugins.filter.convex_image_tag import convex_image_tag  # noqa: E402
from ansible_collections.joelclaw.macmini.plugins.filter.convex_migration_status import (  # noqa: E402
    convex_migration_status,
)

A = "a1" * 32
B = "b2" * 32


def resolve(tmp_path, check=False, no_log=True, **args):
    """Run joelclaw.macmini.convex_instance_secret as Ansible runs a module (its arguments in a JSON
    file, as a task with no_log: true passes them); return (rc, result dict, raw output)."""
    args.setdefault("state_file", str(tmp_path / "secret"))
    args_file = tmp_path / "module-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_no_log=no_log)}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".collections"))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.joelclaw.macmini.plugins.modules.convex_instance_secret",
                           str(args_file)], capture_output=True, text=True, env=env, check=False, timeout=120)
    args_file.unlink()
    result = json.loads(proc.stdout)
    return proc.returncode, result, proc.stdout + proc.stderr


def test_refuses_to_run_unless_the_task_is_no_log(tmp_path):
    rc, result, _out = resolve(tmp_path, no_log=False)
    assert rc != 0 and "no_log: true" in result["msg"] and "instance_secret_b64" not in result
    assert not (tmp_path / "secret").exists()


def secret_of(result):
    return base64.b64decode(result["instance_secret_b64"]).decode()


def test_generates_once_then_reuses_the_state_file(tmp_path):
    rc, first, _out = resolve(tmp_path)
    assert rc == 0 and first["changed"] and first["source"] == "generated"
    value = secret_of(first)
    assert len(value) == 64 and int(value, 16) >= 0
    path = tmp_path / "secret"
    assert path.read_text().strip() == value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    rc, again, _out = resolve(tmp_path)
    assert rc == 0 and not again["changed"] and again["source"] == "state_file"
    assert secret_of(again) == value


def test_check_mode_writes_nothing(tmp_path):
    rc, result, _out = resolve(tmp_path, check=True)
    assert rc == 0 and result["changed"]
    assert not (tmp_path / "secret").exists()


def test_cluster_value_wins_over_nothing_and_is_persisted(tmp_path):
    rc, result, out = resolve(tmp_path, existing=A)
    assert rc == 0 and result["source"] == "existing" and secret_of(result) == A
    assert (tmp_path / "secret").read_text().strip() == A
    assert A not in out


def test_disagreeing_sources_are_refused_without_rotation(tmp_path):
    (tmp_path / "secret").write_text(A + "\n")
    rc, result, out = resolve(tmp_path, secret=B)
    assert rc != 0
    assert "differs from the one in state_file" in result["msg"]
    assert A not in out and B not in out
    assert (tmp_path / "secret").read_text().strip() == A

    rc, result, _out = resolve(tmp_path, secret=B, existing=A)
    assert rc != 0 and "differs from the one in existing" in result["msg"]

    rc, result, _out = resolve(tmp_path, secret=B, allow_rotation=True)
    assert rc == 0 and result["changed"] and secret_of(result) == B
    assert (tmp_path / "secret").read_text().strip() == B


@pytest.mark.parametrize("bad,words", [("abc", "3 characters and all hex"), ("z" * 64, "64 characters and not all hex")])
def test_malformed_secrets_are_refused_without_echoing_them(tmp_path, bad, words):
    rc, result, out = resolve(tmp_path, secret=bad)
    assert rc != 0 and words in result["msg"]
    assert bad not in result["msg"]
    assert not (tmp_path / "secret").exists()


def test_a_loose_state_file_is_tightened(tmp_path):
    path = tmp_path / "secret"
    path.write_text(A + "\n")
    path.chmod(0o644)
    rc, result, _out = resolve(tmp_path)
    assert rc == 0 and result["changed"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("image,tag", [
    ("ghcr.io/get-convex/convex-backend:94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731",
     "94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731"),
    ("ghcr.io/get-convex/convex-backend:latest", "latest"),
    ("ghcr.io/get-convex/convex-backend", ""),
    ("registry.local:5000/convex-backend", ""),
    ("registry.local:5000/convex-backend:abc", "abc"),
    ("ghcr.io/get-convex/convex-backend@sha256:" + "0" * 64, ""),
    ("ghcr.io/get-convex/convex-backend:abc@sha256:" + "0" * 64, "abc"),
])
def test_image_tag(image, tag):
    assert convex_image_tag(image) == tag


LOG_DONE = """
INFO Attempting migration
INFO Migrating to 118
WARN Executing Migration 118/119. Wait for log line 'Migrated 118'
INFO Migrated 118
INFO Migrating to 119
WARN Executing Migration 119/119. Wait for log line 'Index backfill done'
INFO Migrated 119
INFO db metadata version up to date at 119
INFO Migration complete
"""


def test_migrations_wait_for_every_named_line():
    status = convex_migration_status(LOG_DONE)
    assert status["worker_done"] and status["executed"] == [118, 119]
    assert status["awaiting"] == ["Index backfill done"]
    assert not status["complete"]
    done = convex_migration_status(LOG_DONE + "INFO Index backfill done\n")
    assert done["complete"] and done["awaiting"] == []


def test_migrations_not_complete_before_the_worker_finishes():
    assert not convex_migration_status("INFO Attempting migration\n")["complete"]
    assert convex_migration_status("INFO db metadata version up to date at 119\nINFO Migration complete\n")["complete"]
