# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import os
import stat
import zipfile

import pytest

import convex_standin as lib

from ansible_collections.joelclaw.macmini.plugins.modules import convex_export

ROWS = {
    "messages": [{"_id": "m%d" % i, "_creationTime": 1700000000000.0 + i, "body": "hello %d" % i} for i in range(25)],
    "users": [{"_id": "u1", "_creationTime": 1700000000000.0, "name": "joel"}],
}


@pytest.fixture
def seeded(convex_standin):
    convex_standin.state.tables = {name: list(rows) for name, rows in ROWS.items()}
    return convex_standin


def args_for(standin, dest, **extra):
    return dict({"url": standin.url, "admin_key": standin.admin_key(), "dest": str(dest), "request_timeout": 5}, **extra)


def test_export_is_downloaded_verified_and_private(run_module, seeded, tmp_path):
    result = run_module(convex_export, args_for(seeded, tmp_path))
    assert result["changed"] is True
    path = result["path"]
    assert os.path.dirname(path) == str(tmp_path)
    assert os.path.basename(path) == "snapshot_joelclaw_%d.zip" % result["start_ts"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as handle:
        data = handle.read()
    assert result["size"] == len(data) and result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["tables"] == ["messages", "users"]
    with zipfile.ZipFile(path) as archive:
        assert "messages/documents.jsonl" in archive.namelist()
        assert not any(n.startswith("_storage/") for n in archive.namelist())
    assert os.listdir(tmp_path) == [os.path.basename(path)]
    assert ("POST", "/api/export/request/zip") in seeded.state.requests


def test_check_mode_requests_nothing(run_module, seeded, tmp_path):
    result = run_module(convex_export, args_for(seeded, tmp_path), check_mode=True)
    assert result["changed"] is True and seeded.state.exports == [] and os.listdir(tmp_path) == []


def test_storage_is_included_on_request(run_module, seeded, tmp_path):
    seeded.state.storage = {"kg2abc": b"\x89PNG fake image"}
    result = run_module(convex_export, args_for(seeded, tmp_path, include_storage=True))
    with zipfile.ZipFile(result["path"]) as archive:
        assert archive.read("_storage/kg2abc") == b"\x89PNG fake image"


def test_running_export_is_waited_for_then_ours_is_taken(run_module, seeded, tmp_path):
    seeded.state.export_delay = 0.4
    seeded.state.start_export(False)
    result = run_module(convex_export, args_for(seeded, tmp_path, timeout=10))
    assert result["changed"] is True and len(seeded.state.exports) == 2
    assert result["export_id"] == seeded.state.exports[1]["_id"]


def test_export_that_never_completes_hits_the_deadline(run_module, seeded, tmp_path):
    seeded.state.faults.add("export_never_completes")
    result = run_module(convex_export, args_for(seeded, tmp_path, timeout=0.5))
    assert result["failed"] is True and "did not complete within 0.5s" in result["msg"]
    assert "in_progress" in result["msg"] and os.listdir(tmp_path) == []


def test_failed_export_is_reported(run_module, seeded, tmp_path):
    seeded.state.faults.add("export_failed")
    result = run_module(convex_export, args_for(seeded, tmp_path, timeout=5))
    assert result["failed"] is True and "failed" in result["msg"] and os.listdir(tmp_path) == []


def test_corrupted_zip_is_not_kept(run_module, seeded, tmp_path):
    seeded.state.tables["big"] = [{"_id": "b%d" % i, "blob": os.urandom(64).hex()} for i in range(2000)]
    seeded.state.faults.add("corrupt_export")
    result = run_module(convex_export, args_for(seeded, tmp_path))
    assert result["failed"] is True and "corrupt" in result["msg"]
    assert os.listdir(tmp_path) == []


def test_existing_file_needs_force(run_module, seeded, tmp_path):
    dest = tmp_path / "latest.zip"
    dest.write_bytes(b"old")
    refused = run_module(convex_export, args_for(seeded, dest))
    assert refused["failed"] is True and "force" in refused["msg"] and dest.read_bytes() == b"old"
    result = run_module(convex_export, args_for(seeded, dest, force=True))
    assert result["path"] == str(dest) and zipfile.is_zipfile(dest)


def test_wrong_key_is_explained(run_module, seeded, tmp_path):
    args = args_for(seeded, tmp_path, admin_key=lib.make_admin_key("joelclaw", "01" * 32))
    result = run_module(convex_export, args)
    assert result["failed"] is True and "does not belong to instance joelclaw" in result["msg"]
    assert seeded.state.exports == []


def test_malformed_query_answer_is_reported(run_module, seeded, tmp_path):
    seeded.state.malformed.add("/api/query")
    result = run_module(convex_export, args_for(seeded, tmp_path))
    assert result["failed"] is True and "not JSON" in result["msg"]


def test_missing_dest_directory_is_refused(run_module, seeded, tmp_path):
    result = run_module(convex_export, args_for(seeded, tmp_path / "nope" / "x.zip"))
    assert result["failed"] is True and "does not exist" in result["msg"]


def test_export_in_progress_code_comes_from_the_standin(seeded):
    # The module's waiting path depends on this contract: a second request gets 400 ExportInProgress.
    from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient, ConvexError
    seeded.state.faults.add("export_never_completes")
    client = ConvexClient(seeded.url, seeded.admin_key())
    client.request_export(False)
    with pytest.raises(ConvexError) as exc:
        client.request_export(False)
    assert exc.value.code == "ExportInProgress" and exc.value.status == 400
