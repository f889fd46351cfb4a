# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import struct
import threading
import time
import urllib.request
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


# ------------------------------------------------------------------ the layout the backend writes
def raw_members(data):
    """[(name, flags, zip64 extra of the local header, descriptor bytes)] walked from the bytes."""
    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            at = info.header_offset
            flags, _method = struct.unpack("<HH", data[at + 6:at + 10])
            nlen, xlen = struct.unpack("<HH", data[at + 26:at + 30])
            extra = data[at + 30 + nlen:at + 30 + nlen + xlen]
            end = at + 30 + nlen + xlen + info.compress_size
            members.append((info.filename, flags, extra, data[end:end + 16], info.compress_type))
    return members


def test_export_is_streamed_in_the_async_zip_layout(run_module, seeded, tmp_path):
    result = run_module(convex_export, args_for(seeded, tmp_path))
    data = open(result["path"], "rb").read()
    members = raw_members(data)
    assert [m[0] for m in members][:2] == ["README.md", "_tables/documents.jsonl"]
    for name, flags, extra, descriptor, method in members:
        assert flags & 0x08 and method == zipfile.ZIP_DEFLATED, name
        assert struct.unpack("<HHQQ", extra) == (1, 16, 0, 0), name
        assert descriptor[:4] == b"PK\x07\x08" and descriptor[8:] == b"\xff" * 8, name
    assert data[-22:-18] == b"PK\x05\x06" and data[-42:-38] == b"PK\x06\x07"
    with zipfile.ZipFile(result["path"]) as archive:
        assert archive.read("messages/generated_schema.jsonl") == b'"uniform"\n'
        assert "_tables/generated_schema.jsonl" not in archive.namelist()


def test_storage_files_carry_their_extension_and_metadata(run_module, seeded, tmp_path):
    png = b"\x89PNG\r\n" + bytes(range(256)) * 8
    seeded.state.storage = {"kg2abc": {"data": png, "contentType": "image/png"}, "kg2def": b"no type"}
    result = run_module(convex_export, args_for(seeded, tmp_path, include_storage=True, timeout=20))
    with zipfile.ZipFile(result["path"]) as archive:
        assert archive.read("_storage/kg2abc.png") == png
        assert archive.getinfo("_storage/kg2abc.png").compress_type == zipfile.ZIP_DEFLATED
        assert archive.read("_storage/kg2def") == b"no type"
        meta = {d["_id"]: d for d in map(json.loads, archive.read("_storage/documents.jsonl").splitlines())}
    assert meta["kg2abc"]["sha256"] == base64.b64encode(hashlib.sha256(png).digest()).decode()
    assert meta["kg2abc"]["contentType"] == "image/png" and meta["kg2abc"]["size"] == len(png)
    assert meta["kg2def"]["contentType"] is None and meta["kg2abc"]["internalId"]


def test_component_tables_are_exported_but_are_not_user_tables(run_module, seeded, tmp_path):
    seeded.state.components = {"waitlist": {"tables": {"entries": [{"_id": "e1", "_creationTime": 1.0}]},
                                            "storage": {"kg9": b"x"}}}
    result = run_module(convex_export, args_for(seeded, tmp_path, include_storage=True, timeout=20))
    with zipfile.ZipFile(result["path"]) as archive:
        names = archive.namelist()
    for name in ("_components/waitlist/_tables/documents.jsonl", "_components/waitlist/entries/documents.jsonl",
                 "_components/waitlist/_storage/documents.jsonl", "_components/waitlist/_storage/kg9"):
        assert name in names
    assert result["tables"] == ["messages", "users"]


# ------------------------------------------------------------------ a canceled export
def cancel_when_running(standin, after=0.2):
    """What the dashboard's cancel button does: POST /api/export/cancel/<id> on the running export."""
    def work():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = [d for d in standin.state.exports if d["state"] in ("requested", "in_progress")]
            if running:
                time.sleep(after)
                request = urllib.request.Request("%s/api/export/cancel/%s" % (standin.url, running[-1]["_id"]),
                                                 data=b"", method="POST",
                                                 headers={"Authorization": "Convex " + standin.admin_key()})
                urllib.request.urlopen(request, timeout=5).read()
                return
            time.sleep(0.02)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_canceled_export_stops_the_wait_with_a_clear_message(run_module, seeded, tmp_path):
    seeded.state.export_delay = 3.0
    thread = cancel_when_running(seeded)
    started = time.monotonic()
    result = run_module(convex_export, args_for(seeded, tmp_path, timeout=15))
    thread.join()
    assert time.monotonic() - started < 10
    assert result["failed"] is True and "canceled" in result["msg"], result
    assert seeded.state.exports[-1]["state"] == "canceled" and os.listdir(tmp_path) == []


def test_cancel_route_refuses_a_finished_export(run_module, seeded, tmp_path):
    from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient, ConvexError
    result = run_module(convex_export, args_for(seeded, tmp_path, timeout=20))
    client = ConvexClient(seeded.url, seeded.admin_key(), retries=0)
    with pytest.raises(ConvexError) as exc:
        client.call("POST", "/api/export/cancel/%s" % result["export_id"], expect="none")
    assert exc.value.status == 500 and seeded.state.exports[-1]["state"] == "completed"
