# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backup and convex_backup_restore against the Convex TEST STAND-IN."""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.joelclaw.macmini.plugins.modules import convex_backup, convex_backup_restore

ROWS = {
    "messages": [{"_id": "m%d" % i, "_creationTime": 1700000000000.0 + i, "body": "hello %d" % i} for i in range(25)],
    "users": [{"_id": "u1", "_creationTime": 1700000000000.0, "name": "joel"}],
}
ENV = {"SITE_URL": "https://example.test", "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----secret"}


@pytest.fixture
def seeded(convex_standin):
    convex_standin.state.tables = {name: [dict(r) for r in rows] for name, rows in ROWS.items()}
    convex_standin.state.env = dict(ENV)
    return convex_standin


def backup_args(standin, backup_dir, **extra):
    return dict({"url": standin.url, "admin_key": standin.admin_key(), "backup_dir": str(backup_dir),
                 "request_timeout": 5, "timeout": 10, "backend_image": "img:abc"}, **extra)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_backup_writes_a_verified_private_set(seeded, run_module, tmp_path):
    backup_dir = tmp_path / "backups"
    result = run_module(convex_backup, backup_args(seeded, backup_dir))
    assert result["changed"] is True
    manifest = result["manifest"]
    zip_path = result["path"]
    assert os.path.dirname(zip_path) == str(backup_dir)
    assert manifest["tables"] == {"messages": 25, "users": 1}
    assert manifest["documents"] == 26
    assert manifest["sha256"] == hashlib.sha256(open(zip_path, "rb").read()).hexdigest()
    assert manifest["size"] == os.path.getsize(zip_path)
    assert manifest["backend_image"] == "img:abc"
    assert manifest["env_count"] == 2
    base = zip_path[:-4]
    assert json.load(open(base + ".env.json"))["environmentVariables"] == ENV
    assert json.load(open(base + ".manifest.json"))["sha256"] == manifest["sha256"]
    for path in (zip_path, base + ".env.json", base + ".manifest.json"):
        assert mode(path) == 0o600
    assert mode(backup_dir) == 0o700
    assert os.listdir(backup_dir / ".staging") == []
    # variable values never appear in the module's result
    assert "secret" not in json.dumps(result)


def test_check_mode_writes_nothing(seeded, run_module, tmp_path):
    result = run_module(convex_backup, backup_args(seeded, tmp_path / "b"), check_mode=True)
    assert result["changed"] is True
    assert result["latest_state"] is None
    assert not (tmp_path / "b").exists()
    assert seeded.state.exports == []


@pytest.mark.parametrize("fault", ["corrupt_export", "export_failed"])
def test_failed_export_keeps_the_good_set_and_leaves_nothing(seeded, run_module, tmp_path, fault):
    backup_dir = tmp_path / "b"
    first = run_module(convex_backup, backup_args(seeded, backup_dir, keep_daily=0, keep_weekly=0))
    before = sorted(os.listdir(backup_dir))
    seeded.state.faults.add(fault)
    result = run_module(convex_backup, backup_args(seeded, backup_dir, keep_daily=0, keep_weekly=0))
    assert result.get("failed") is True
    assert sorted(os.listdir(backup_dir)) == before
    assert os.listdir(backup_dir / ".staging") == []
    assert os.path.exists(first["path"])


def test_backup_fails_when_sidecar_cannot_be_written_and_removes_what_it_wrote(seeded, run_module, tmp_path, monkeypatch):
    from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as lib
    real = lib.write_private_json
    calls = []

    def flaky(path, data):
        calls.append(path)
        if path.endswith(".manifest.json"):
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(lib, "write_private_json", flaky)
    backup_dir = tmp_path / "b"
    result = run_module(convex_backup, backup_args(seeded, backup_dir))
    assert result["failed"] is True
    assert "No space left" in result["msg"]
    assert len(calls) == 2
    assert [n for n in os.listdir(backup_dir) if n != ".staging"] == []
    assert os.listdir(backup_dir / ".staging") == []


def test_env_file_key_and_bad_key_message(seeded, run_module, tmp_path):
    env_file = tmp_path / "convex.env"
    env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (seeded.url, seeded.admin_key()))
    args = backup_args(seeded, tmp_path / "b")
    del args["admin_key"]
    result = run_module(convex_backup, dict(args, admin_key_env_file=str(env_file)))
    assert result["changed"] is True
    env_file.write_text("# nothing\n")
    result = run_module(convex_backup, dict(args, admin_key_env_file=str(env_file)))
    assert result["failed"] is True
    assert "no CONVEX_SELF_HOSTED_ADMIN_KEY line" in result["msg"]


def test_negative_retention_is_refused(seeded, run_module, tmp_path):
    result = run_module(convex_backup, backup_args(seeded, tmp_path / "b", keep_daily=-1))
    assert result["failed"] is True
    assert "keep_daily=-1" in result["msg"]


# ---------------------------------------------------------------------------- restore
def restore_args(standin, backup_dir, which="latest", **extra):
    return dict({"url": standin.url, "admin_key": standin.admin_key(), "backup_dir": str(backup_dir),
                 "backup": which, "request_timeout": 5, "timeout": 10}, **extra)


def test_restore_replaces_data_and_variables(seeded, run_module, tmp_path):
    backup_dir = tmp_path / "b"
    taken = run_module(convex_backup, backup_args(seeded, backup_dir))
    seeded.state.tables = {"extra": [{"_id": "x", "_creationTime": 1.0}], "users": []}
    seeded.state.env = {"SITE_URL": "https://changed.test", "NEW": "1"}
    result = run_module(convex_backup_restore, restore_args(seeded, backup_dir))
    assert result["changed"] is True
    assert result["backup"] == taken["path"]
    assert result["rows_written"] == 26
    assert sorted(result["env_changed"]) == ["JWT_PRIVATE_KEY", "NEW", "SITE_URL"]
    assert seeded.state.tables == ROWS
    assert seeded.state.env == ENV
    assert "secret" not in json.dumps(result)


def test_restore_check_mode_verifies_and_changes_nothing(seeded, run_module, tmp_path):
    backup_dir = tmp_path / "b"
    run_module(convex_backup, backup_args(seeded, backup_dir))
    seeded.state.env = {"NEW": "1"}
    result = run_module(convex_backup_restore, restore_args(seeded, backup_dir), check_mode=True)
    assert result["changed"] is True
    assert sorted(result["env_changed"]) == ["JWT_PRIVATE_KEY", "NEW", "SITE_URL"]
    assert seeded.state.imports == {}
    assert seeded.state.env == {"NEW": "1"}


def corrupt(path):
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle:middle + 32] = bytes(32)
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("damage,message", [
    ("zip", "is corrupt: its sha256"),
    ("env", "does not match the manifest's env_sha256"),
    ("manifest", "is incomplete (missing its manifest)"),
])
def test_restore_refuses_a_damaged_set_before_any_upload(seeded, run_module, tmp_path, damage, message):
    backup_dir = tmp_path / "b"
    taken = run_module(convex_backup, backup_args(seeded, backup_dir))
    base = taken["path"][:-4]
    if damage == "zip":
        corrupt(taken["path"])
    elif damage == "env":
        open(base + ".env.json", "w").write('{"environmentVariables": {"SITE_URL": "evil"}}')
    else:
        os.unlink(base + ".manifest.json")
    result = run_module(convex_backup_restore, restore_args(seeded, backup_dir, which=os.path.basename(taken["path"])))
    assert result["failed"] is True
    assert message in result["msg"]
    assert seeded.state.uploads == {} and seeded.state.imports == {}


def test_restore_of_an_unknown_name_lists_what_exists(seeded, run_module, tmp_path):
    backup_dir = tmp_path / "b"
    taken = run_module(convex_backup, backup_args(seeded, backup_dir))
    result = run_module(convex_backup_restore, restore_args(seeded, backup_dir, which="snapshot_nope.zip"))
    assert result["failed"] is True
    assert os.path.basename(taken["path"]) in result["msg"]


def test_component_system_tables_are_not_counted_as_user_tables(seeded, run_module, tmp_path):
    seeded.state.storage = {"kg1": {"data": b"\x89PNG", "contentType": "image/png"}}
    seeded.state.components = {"waitlist": {"tables": {"entries": [{"_id": "e%d" % i, "_creationTime": 1.0}
                                                                   for i in range(3)]},
                                            "storage": {"kg9": b"x", "kg8": b"y"}}}
    result = run_module(convex_backup, backup_args(seeded, tmp_path / "backups", include_storage=True))
    manifest = result["manifest"]
    assert manifest["tables"] == {"messages": 25, "users": 1, "waitlist/entries": 3,
                                  "_storage": 1, "waitlist/_storage": 2}
    assert manifest["documents"] == 29
    # the restore's verification recounts the same way and accepts the set
    restore = run_module(convex_backup_restore, restore_args(seeded, tmp_path / "backups"), check_mode=True)
    assert restore.get("failed") is not True and restore["manifest"]["documents"] == 29, restore


def test_env_file_with_export_lines_quotes_and_comments(seeded, run_module, tmp_path):
    env_file = tmp_path / "convex-admin.env"
    env_file.write_text("# by hand\nexport CONVEX_SELF_HOSTED_URL=%s\nexport CONVEX_SELF_HOSTED_ADMIN_KEY=\"%s\"  # rotated\n"
                        % (seeded.url, seeded.admin_key()))
    args = backup_args(seeded, tmp_path / "b", admin_key_env_file=str(env_file))
    del args["admin_key"]
    result = run_module(convex_backup, args)
    assert result["changed"] is True and result["manifest"]["documents"] == 26, result
    restore = restore_args(seeded, tmp_path / "b", admin_key_env_file=str(env_file))
    del restore["admin_key"]
    assert run_module(convex_backup_restore, restore, check_mode=True)["changed"] is True
