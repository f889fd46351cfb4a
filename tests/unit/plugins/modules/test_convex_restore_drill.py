# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_restore_drill against two Convex TEST STAND-INs: the live backend ("joelclaw", the
conftest fixture) and a second instance for the drill backend ("joelclaw-drill", its own secret)."""
from __future__ import annotations

import json
import os
import secrets
import stat

import pytest

import convex_standin as standin_lib
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_drill
from ansible_collections.joelclaw.macmini.plugins.modules import convex_backup, convex_health, convex_restore_drill

ROWS = {
    "messages": [{"_id": "m%d" % i, "_creationTime": 1700000000000.0 + i, "body": "hello %d" % i} for i in range(12)],
    "users": [{"_id": "u1", "_creationTime": 1700000000000.0, "name": "joel"}],
}
ENV = {"SITE_URL": "https://example.test", "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----secret"}


@pytest.fixture
def live(convex_standin):
    convex_standin.state.tables = {name: [dict(r) for r in rows] for name, rows in ROWS.items()}
    convex_standin.state.env = dict(ENV)
    return convex_standin


@pytest.fixture
def drill_backend():
    standin = standin_lib.ConvexStandin("joelclaw-drill", secrets.token_hex(32))
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def backup_dir(live, run_module, tmp_path):
    path = tmp_path / "backups"
    result = run_module(convex_backup, {"url": live.url, "admin_key": live.admin_key(), "backup_dir": str(path),
                                        "request_timeout": 5, "timeout": 10})
    assert result["changed"] is True, result
    return path


def drill_args(drill, backup_dir, result_file, **extra):
    return dict({"url": drill.url, "admin_key": drill.admin_key(), "instance_name": "joelclaw-drill",
                 "live_instance_name": "joelclaw", "backup_dir": str(backup_dir), "result_file": str(result_file),
                 "request_timeout": 5, "timeout": 10}, **extra)


def snapshot(standin):
    state = standin.state
    return json.dumps([state.tables, state.env, sorted(state.imports)], sort_keys=True, default=str)


def test_the_drill_restores_reads_back_compares_and_records_without_touching_the_live_backend(
        live, drill_backend, backup_dir, run_module, tmp_path):
    before = snapshot(live)
    result_file = tmp_path / "state" / "restore-drill.json"
    started = 1000.0  # the playbook passes the time before the drill backend was created
    result = run_module(convex_restore_drill, drill_args(drill_backend, backup_dir, result_file, started=started))
    assert result.get("failed") is not True, result
    assert result["ok"] is True and result["problems"] == []
    # read back from the drill backend: its own export, counted per table
    assert result["tables"] == {"messages": 12, "users": 1}
    assert sorted(drill_backend.state.tables) == ["messages", "users"]
    assert sorted(drill_backend.state.env) == sorted(ENV)
    assert snapshot(live) == before
    record = json.loads(result_file.read_text())
    assert stat.S_IMODE(os.stat(result_file).st_mode) == 0o600
    assert record["ok"] is True and record["documents"] == 13 and record["backup"].endswith(".zip")
    assert record["rto_seconds"] == pytest.approx(record["date_unix"] - started, abs=0.01)
    assert "secret" not in json.dumps(result) and "secret" not in result_file.read_text()
    # convex_health's restore_drill probe reads the record: ok now, warn when old, fail when failed
    assert health_probe(run_module, live, result_file)["status"] == "ok"
    record["date_unix"] -= 36 * 86400
    result_file.write_text(json.dumps(record))
    stale = health_probe(run_module, live, result_file)
    assert stale["status"] == "warn" and "older than 35d" in stale["hint"]
    record.update(ok=False, problems=["table users holds 0 documents; the manifest says 1"])
    result_file.write_text(json.dumps(record))
    failed = health_probe(run_module, live, result_file)
    assert failed["status"] == "fail" and "table users holds 0 documents" in failed["hint"]
    never = health_probe(run_module, live, tmp_path / "never.json")
    assert never["status"] == "warn" and "no restore drill recorded" in never["hint"]


def health_probe(run_module, live, result_file):
    result = run_module(convex_health, {"url": live.url, "instance_name": "joelclaw", "timeout": 2,
                                        "restore_drill_file": str(result_file), "fail_on": "never"})
    return [p for p in result["probes"] if p["name"] == "restore_drill"][0]


def test_a_drill_backend_that_loses_a_table_fails_the_drill_and_records_it(
        live, drill_backend, backup_dir, run_module, tmp_path, monkeypatch):
    real_import = _convex_drill.run_import

    def lossy_import(*args, **kwargs):
        outcome = real_import(*args, **kwargs)
        drill_backend.state.tables.pop("users")
        drill_backend.state.tables["messages"].pop()
        return outcome

    monkeypatch.setattr(_convex_drill, "run_import", lossy_import)
    result_file = tmp_path / "restore-drill.json"
    result = run_module(convex_restore_drill, drill_args(drill_backend, backup_dir, result_file))
    assert result["failed"] is True
    assert "tables missing after the restore: users" in result["msg"]
    assert "table messages holds 11 documents; the manifest says 12" in result["msg"]
    assert json.loads(result_file.read_text())["ok"] is False


def test_a_set_whose_manifest_counts_were_edited_fails_before_the_import(
        live, drill_backend, backup_dir, run_module, tmp_path):
    manifest_path = next(backup_dir.glob("*.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["messages"] = 99
    manifest_path.write_text(json.dumps(manifest))
    result_file = tmp_path / "restore-drill.json"
    result = run_module(convex_restore_drill, drill_args(drill_backend, backup_dir, result_file))
    assert result["failed"] is True
    assert "table counts" in result["msg"] and "differ from the manifest" in result["msg"]
    assert drill_backend.state.imports == {}
    record = json.loads(result_file.read_text())
    assert record["ok"] is False and "differ from the manifest" in record["problems"][0]


def test_the_live_backend_is_refused_by_name_and_by_what_it_answers(live, backup_dir, run_module, tmp_path):
    before = snapshot(live)
    result_file = tmp_path / "restore-drill.json"
    same = run_module(convex_restore_drill, drill_args(live, backup_dir, result_file, instance_name="joelclaw"))
    assert same["failed"] is True and "never restores into the live backend" in same["msg"]
    # the drill's URL pointing at the live backend: its /instance_name answers joelclaw
    wrong = run_module(convex_restore_drill, drill_args(live, backup_dir, result_file))
    assert wrong["failed"] is True and "is instance 'joelclaw', not the drill's 'joelclaw-drill'" in wrong["msg"]
    assert snapshot(live) == before
    assert not result_file.exists()


def test_no_backup_set_fails_before_anything_and_check_mode_imports_nothing(
        live, drill_backend, backup_dir, run_module, tmp_path):
    result_file = tmp_path / "restore-drill.json"
    empty = run_module(convex_restore_drill, drill_args(drill_backend, tmp_path / "none", result_file))
    assert empty["failed"] is True and "no good backup" in empty["msg"]
    checked = run_module(convex_restore_drill, drill_args(drill_backend, backup_dir, result_file), check_mode=True)
    assert checked["changed"] is True and checked["backup"].endswith(".zip")
    assert drill_backend.state.imports == {} and drill_backend.state.tables == {}
    assert not result_file.exists()
