# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

import convex_standin as lib

from ansible_collections.joelclaw.macmini.plugins.modules import convex_export, convex_import

TABLES = {
    "messages": [{"_id": "m%d" % i, "_creationTime": 1.0 + i, "body": "hi %d" % i} for i in range(30)],
    "users": [{"_id": "u1", "_creationTime": 1.0, "name": "joel"}],
}


@pytest.fixture
def snapshot(tmp_path):
    path = str(tmp_path / "snapshot.zip")
    lib.write_snapshot_zip(path, TABLES, {}, "joelclaw")
    return path


def args_for(standin, src, mode, **extra):
    return dict({"url": standin.url, "admin_key": standin.admin_key(), "src": src, "mode": mode,
                 "request_timeout": 5, "timeout": 10}, **extra)


def test_import_into_an_empty_deployment(run_module, convex_standin, snapshot):
    result = run_module(convex_import, args_for(convex_standin, snapshot, "requireEmpty"))
    assert result["changed"] is True and result["rows_written"] == 31 and result["rows_in_file"] == 31
    assert result["tables"] == ["messages", "users"] and "messages" in result["message_to_confirm"]
    assert convex_standin.state.tables["messages"] == TABLES["messages"]
    assert ("POST", "/api/perform_import") in convex_standin.state.requests


def test_require_empty_refuses_to_overwrite(run_module, convex_standin, snapshot):
    convex_standin.state.tables = {"users": [{"_id": "u9", "name": "other"}]}
    result = run_module(convex_import, args_for(convex_standin, snapshot, "requireEmpty"))
    # The import's error_message as the backend words it (snapshot_import/import_error.rs TableExists).
    assert result["failed"] is True and "Table users already exists" in result["msg"]
    assert convex_standin.state.tables == {"users": [{"_id": "u9", "name": "other"}]}


def test_replace_all_restores_exactly_the_snapshot(run_module, convex_standin, snapshot):
    convex_standin.state.tables = {"users": [{"_id": "u9"}], "stale": [{"_id": "s1"}]}
    result = run_module(convex_import, args_for(convex_standin, snapshot, "replaceAll", chunk_size=1024))
    assert result["rows_written"] == 31 and result["parts"] > 1
    assert convex_standin.state.tables == TABLES


def test_check_mode_uploads_nothing(run_module, convex_standin, snapshot):
    result = run_module(convex_import, args_for(convex_standin, snapshot, "replaceAll"), check_mode=True)
    assert result["changed"] is True and result["rows_in_file"] == 31
    assert convex_standin.state.imports == {} and convex_standin.state.tables == {}
    assert ("POST", "/api/import/start_upload") not in convex_standin.state.requests


def test_mode_is_required(run_module, convex_standin, snapshot):
    args = args_for(convex_standin, snapshot, "append")
    del args["mode"]
    result = run_module(convex_import, args)
    assert result["failed"] is True and "mode" in result["msg"]


def test_corrupted_local_zip_is_refused_before_upload(run_module, convex_standin, snapshot):
    with open(snapshot, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00" * 64)
    result = run_module(convex_import, args_for(convex_standin, snapshot, "append"))
    assert result["failed"] is True and "not a usable Convex snapshot" in result["msg"]
    assert list(convex_standin.state.requests) == []


def test_import_that_never_completes_hits_the_deadline(run_module, convex_standin, snapshot):
    convex_standin.state.faults.add("import_never_completes")
    result = run_module(convex_import, args_for(convex_standin, snapshot, "append", timeout=0.5))
    assert result["failed"] is True and "did not finish within 0.5s" in result["msg"] and "in_progress" in result["msg"]


def test_wrong_key(run_module, convex_standin, snapshot):
    args = args_for(convex_standin, snapshot, "append", admin_key=lib.make_admin_key("joelclaw", "02" * 32))
    result = run_module(convex_import, args)
    assert result["failed"] is True and "does not belong to instance joelclaw" in result["msg"]


def test_export_then_import_round_trip(run_module, convex_standin, convex_secret, tmp_path):
    convex_standin.state.tables = {name: list(rows) for name, rows in TABLES.items()}
    exported = run_module(convex_export, {"url": convex_standin.url, "admin_key": convex_standin.admin_key(),
                                          "dest": str(tmp_path)})
    with lib.ConvexStandin("joelclaw", convex_secret) as target:
        result = run_module(convex_import, args_for(target, exported["path"], "replaceAll"))
        assert result["rows_written"] == 31 and target.state.tables == TABLES


def test_a_system_key_works_in_check_mode_as_in_apply_mode(run_module, convex_standin, snapshot):
    # The real backend refuses a system key on GET /api/check_admin_key (403 BadDeployKey,
    # crates/local_backend/src/dashboard.rs check_admin_key) while the import routes accept it
    # (crates/roles/src/eval.rs require_operation), so check mode must not call it refused.
    args = dict(args_for(convex_standin, snapshot, "append"), admin_key=convex_standin.admin_key(system=True))
    check = run_module(convex_import, args, check_mode=True)
    assert check.get("failed") is not True and check["changed"] is True, check
    assert ("POST", "/api/import/start_upload") not in convex_standin.state.requests
    result = run_module(convex_import, args)
    assert result["changed"] is True and result["rows_written"] == 31


def test_check_mode_still_refuses_a_missing_or_wrong_key(run_module, convex_standin, convex_secret, snapshot):
    other = lib.make_admin_key("joelclaw", "ab" * 32, system=True)
    result = run_module(convex_import, dict(args_for(convex_standin, snapshot, "append"), admin_key=other),
                        check_mode=True)
    assert result["failed"] is True and result["error"]["code"] == "BadAdminKey"


def test_replace_all_into_an_empty_deployment_completes(run_module, convex_standin, snapshot):
    # Nothing would be deleted, so the backend does not require manual confirmation
    # (snapshot_import/confirmation.rs); the module confirms either way, as `npx convex import -y` does,
    # and reports the summary in the backend's table layout (snapshot_import/table_change.rs).
    result = run_module(convex_import, args_for(convex_standin, snapshot, "replaceAll"))
    assert result["changed"] is True and result["rows_written"] == 31
    (doc,) = convex_standin.state.imports.values()
    assert doc["state"]["state"] == "completed"
    assert "Import change summary:" in result["message_to_confirm"]
    assert "messages | 30     | 0 of 0 |" in result["message_to_confirm"]
