# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Convex TEST STAND-IN answers as the real backend does where a stand-in might assume
otherwise (shared reference convex-selfhost.md, Errata "Stand-in fidelity"). Each expectation
was read in convex-backend at the release-branch tip 652b828 (identical at main 94a42c3); the
file and function are named at each test."""
from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import zipfile

import pytest

import convex_standin as lib

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient, ConvexError

ROWS = {"users": [{"_id": "u%d" % i, "_creationTime": 1.0 + i, "name": "n%d" % i} for i in range(3)]}


def request(url, method="GET", body=None, data=None, key=None, content_type="application/json"):
    """(status, content type, body bytes) of one request; body is JSON-encoded."""
    headers = {}
    if key is not None:
        headers["Authorization"] = "Convex " + key
    if body is not None:
        data = json.dumps(body).encode("utf-8")
    if content_type is not None and data is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


def error_code(raw):
    return json.loads(raw.decode("utf-8"))["code"]


def snapshot_bytes(tables):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("README.md", "stand-in test\n")
        archive.writestr("_tables/documents.jsonl", "".join(json.dumps({"name": n, "id": 10001 + i}) + "\n"
                                                            for i, n in enumerate(sorted(tables))))
        for name, rows in tables.items():
            archive.writestr("%s/documents.jsonl" % name, "".join(json.dumps(r) + "\n" for r in rows))
    return buf.getvalue()


def start_import(standin, mode, tables=None, data=None):
    """Upload a ZIP and return the import id once the stand-in has parsed it."""
    client = ConvexClient(standin.url, standin.admin_key())
    token = client.start_upload()
    part = client.upload_part(token, 1, snapshot_bytes(tables or ROWS) if data is None else data)
    import_id = client.finish_upload(token, [part], mode)
    wait_until(lambda: standin.state.imports[import_id]["state"]["state"] != "uploaded")
    return import_id


def wait_until(predicate, timeout=60.0):  # generous: only a failing wait pays it
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# ---------------------------------------------------------------- Content-Type
# crates/common/src/http/extract.rs Json::from_request: no application/json -> 400 BadJsonBody.
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_post_without_the_json_content_type_is_bad_json_body(convex_standin, content_type):
    status, _ctype, raw = request(convex_standin.url + "/api/update_environment_variables", "POST",
                                  body={"changes": [{"name": "A", "value": "1"}]}, key=convex_standin.admin_key(),
                                  content_type=content_type)
    assert status == 400 and error_code(raw) == "BadJsonBody"
    assert "Content-Type: application/json" in json.loads(raw)["message"]
    assert convex_standin.state.env == {}


def test_json_content_type_with_parameters_or_a_json_suffix_is_accepted(convex_standin):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        status, _ctype, _raw = request(convex_standin.url + "/api/update_environment_variables", "POST",
                                       body={"changes": [{"name": "A", "value": content_type}]},
                                       key=convex_standin.admin_key(), content_type=content_type)
        assert status == 200
    assert convex_standin.state.env == {"A": "application/merge-patch+json"}


def test_extractor_order_bad_key_then_body_then_missing_key(convex_standin):
    url = convex_standin.url + "/api/update_environment_variables"
    other = lib.make_admin_key("joelclaw", "00" * 32)
    # ExtractIdentity rejects a bad key before the body is looked at ...
    assert request(url, "POST", body={"changes": []}, key=other, content_type="text/plain")[0] == 401
    # ... a missing key is only refused by require_operation, after the Json extractor.
    status, _ctype, raw = request(url, "POST", body={"changes": []}, content_type="text/plain")
    assert status == 400 and error_code(raw) == "BadJsonBody"
    status, _ctype, raw = request(url, "POST", body={"changes": []})
    assert status == 403 and error_code(raw) == "BadDeployKey"
    assert json.loads(raw)["message"] == lib.BAD_DEPLOY_KEY_MESSAGE


def test_an_empty_json_body_is_bad_json_body(convex_standin):
    status, _ctype, raw = request(convex_standin.url + "/api/perform_import", "POST", data=b"",
                                  key=convex_standin.admin_key())
    assert status == 400 and error_code(raw) == "BadJsonBody"


def test_our_client_sends_the_json_content_type_on_every_json_post(convex_standin):
    client = ConvexClient(convex_standin.url, convex_standin.admin_key())
    client.update_env([{"name": "A", "value": "1"}])
    assert client.query("_system/cli/queryEnvironmentVariables:get", {"name": "A"})["value"] == "1"
    import_id = start_import(convex_standin, "append")
    client.perform_import(import_id)
    wait_until(lambda: convex_standin.state.imports[import_id]["state"]["state"] == "completed")
    with pytest.raises(ConvexError) as cancelled:
        client.cancel_import(import_id)
    assert cancelled.value.code == "CannotCancelImport"
    # The same calls without the header are refused: the check above could fail.
    plain = ConvexClient(convex_standin.url, convex_standin.admin_key())
    plain._headers = lambda extra=None, auth=True, json_body=False: {"Authorization": "Convex " + plain.admin_key}
    with pytest.raises(ConvexError) as refused:
        plain.update_env([{"name": "B", "value": "2"}])
    assert refused.value.code == "BadJsonBody" and "B" not in convex_standin.state.env


# ---------------------------------------------------------------- environment variables
# crates/local_backend/src/environment_variables.rs update_environment_variables sorts the changes
# (crates/application/src/lib.rs EnvVarChange: every Unset before every Set, then name, value).
def test_duplicate_names_in_one_call_are_accepted_and_the_sorted_last_write_wins(convex_standin):
    client = ConvexClient(convex_standin.url, convex_standin.admin_key())
    client.update_env([{"name": "A", "value": "zebra"}, {"name": "A", "value": "apple"},
                       {"name": "B", "value": "kept"}, {"name": "B", "value": None},
                       {"name": "C", "value": None}, {"name": "C", "value": "set"}])
    assert convex_standin.state.env == {"A": "zebra", "B": "kept", "C": "set"}


def test_builtin_names_are_refused_only_when_set(convex_standin):
    client = ConvexClient(convex_standin.url, convex_standin.admin_key())
    client.update_env([{"name": "CONVEX_SITE_URL", "value": None}])
    with pytest.raises(ConvexError) as refused:
        client.update_env([{"name": "CONVEX_SITE_URL", "value": "https://x"}])
    assert refused.value.code == "EnvVarNameForbidden"


# crates/common/src/types/environment_variables.rs env_var_limit_met / env_var_total_size_limit_met,
# checked on the result in Application::update_environment_variables (knobs.rs: 512, 512 KiB).
def test_the_variable_count_limit(convex_standin):
    client = ConvexClient(convex_standin.url, convex_standin.admin_key())
    client.update_env([{"name": "V%03d" % i, "value": "x"} for i in range(512)])
    assert len(convex_standin.state.env) == 512
    with pytest.raises(ConvexError) as refused:
        client.update_env([{"name": "ONE_MORE", "value": "x"}])
    assert refused.value.status == 400 and refused.value.code == "EnvVarLimitMet"
    assert "The environment variable limit (512) has been met." in refused.value.message
    # Replacing one variable by another in the same call stays within the limit.
    client.update_env([{"name": "V000", "value": None}, {"name": "ONE_MORE", "value": "x"}])
    assert len(convex_standin.state.env) == 512 and "ONE_MORE" in convex_standin.state.env


def test_the_total_size_limit_counts_names_and_values_and_keeps_nothing(convex_standin):
    client = ConvexClient(convex_standin.url, convex_standin.admin_key())
    # 64 names of 4 bytes with values of 8188 bytes: exactly 524,288 bytes.
    client.update_env([{"name": "S%03d" % i, "value": "v" * 8188} for i in range(64)])
    before = dict(convex_standin.state.env)
    with pytest.raises(ConvexError) as refused:
        client.update_env([{"name": "T", "value": ""}, {"name": "U", "value": "u"}])
    assert refused.value.code == "EnvVarTotalSizeLimitMet"
    assert "(524291 bytes) exceeds the limit (524288 bytes)" in refused.value.message
    assert convex_standin.state.env == before


# ---------------------------------------------------------------- imports
# crates/model/src/snapshot_imports/mod.rs confirm_import / cancel_import.
def test_perform_import_on_an_import_not_waiting_is_a_200_no_op(convex_standin):
    import_id = start_import(convex_standin, "append")
    url, key = convex_standin.url + "/api/perform_import", convex_standin.admin_key()
    assert request(url, "POST", body={"importId": import_id}, key=key)[0] == 200
    wait_until(lambda: convex_standin.state.imports[import_id]["state"]["state"] == "completed")
    done = dict(convex_standin.state.imports[import_id]["state"])
    assert request(url, "POST", body={"importId": import_id}, key=key)[0] == 200
    assert convex_standin.state.imports[import_id]["state"] == done
    assert convex_standin.state.tables == ROWS


def test_cancel_import_on_a_finished_import_is_cannot_cancel(convex_standin):
    url, key = convex_standin.url, convex_standin.admin_key()
    completed = start_import(convex_standin, "append")
    request(url + "/api/perform_import", "POST", body={"importId": completed}, key=key)
    wait_until(lambda: convex_standin.state.imports[completed]["state"]["state"] == "completed")
    status, _ctype, raw = request(url + "/api/cancel_import", "POST", body={"importId": completed}, key=key)
    assert status == 400 and error_code(raw) == "CannotCancelImport"
    assert json.loads(raw)["message"] == "Cannot cancel an import that has completed"
    assert convex_standin.state.imports[completed]["state"]["state"] == "completed"
    # A waiting import can be cancelled, once; then it has failed.
    waiting = start_import(convex_standin, "append")
    assert request(url + "/api/cancel_import", "POST", body={"importId": waiting}, key=key)[0] == 200
    assert convex_standin.state.imports[waiting]["state"] == {"state": "failed", "error_message": "Import canceled"}
    status, _ctype, raw = request(url + "/api/cancel_import", "POST", body={"importId": waiting}, key=key)
    assert status == 400 and json.loads(raw)["message"] == "Cannot cancel an import that has failed"


def test_import_ids_that_do_not_decode_or_do_not_exist(convex_standin):
    url, key = convex_standin.url + "/api/perform_import", convex_standin.admin_key()
    status, _ctype, raw = request(url, "POST", body={"importId": "not-an-id"}, key=key)
    assert status == 400 and error_code(raw) == "InvalidImport"
    status, _ctype, raw = request(url, "POST", body={"importId": lib.new_id()}, key=key)
    assert status == 404 and error_code(raw) == "ImportNotFound"


# crates/application/src/snapshot_import/confirmation.rs messages_to_confirm_replace.
@pytest.mark.parametrize("mode,existing,manual", [
    ("replaceAll", {}, False),
    ("replace", {}, False),
    ("append", ROWS, False),
    ("replace", ROWS, True),
    ("replaceAll", {"other": [{"_id": "o1"}]}, True),
    ("replaceAll", {"other": []}, False),
])
def test_manual_confirmation_only_when_rows_would_be_deleted(convex_standin, mode, existing, manual):
    convex_standin.state.tables = {name: list(rows) for name, rows in existing.items()}
    import_id = start_import(convex_standin, mode)
    state = convex_standin.state.imports[import_id]["state"]
    assert state["state"] == "waiting_for_confirmation"
    assert state["require_manual_confirmation"] is manual


def test_the_confirmation_message_has_the_backend_layout(convex_standin):
    convex_standin.state.tables = {"other": [{"_id": "o%d" % i} for i in range(1200)]}
    state = convex_standin.state.imports[start_import(convex_standin, "replaceAll")]["state"]
    assert state["message_to_confirm"].split("\n") == [
        "Import change summary:",
        "table | create | delete         |",
        "-" * 33,
        "other | 0      | 1,200 of 1,200 |",
        "users | 3      | 0 of 0         |",
        "Once the import has started, it will run in the background.",
        "Interrupting `npx convex import` will not cancel it.",
    ]


def test_import_failure_texts(convex_standin):
    convex_standin.state.tables = {"users": [{"_id": "x"}]}
    busy = convex_standin.state.imports[start_import(convex_standin, "requireEmpty")]["state"]
    assert busy == {"state": "failed", "error_message": "Table users already exists. Please choose a new "
                                                        "table name or use replace/append modes."}
    broken = convex_standin.state.imports[start_import(convex_standin, "append", data=b"PK\x03\x04 no zip")]["state"]
    assert broken == {"state": "failed", "error_message": "Hit an error while importing:\ninvalid zip file"}


# ---------------------------------------------------------------- export ids
# crates/local_backend/src/snapshot_export.rs get_zip_export, crates/application/src/lib.rs get_zip_export.
def test_export_ids(convex_standin):
    url, key = convex_standin.url + "/api/export/zip/", convex_standin.admin_key()
    status, _ctype, raw = request(url + "not-an-id", key=key)
    assert status == 400 and error_code(raw) == "BadSnapshotId"
    status, _ctype, raw = request(url + lib.new_id(), key=key)
    assert status == 404 and error_code(raw) == "ExportNotFound"
    convex_standin.state.faults.add("export_never_completes")
    doc = convex_standin.state.start_export(False)
    wait_until(lambda: doc["state"] == "in_progress")
    status, _ctype, raw = request(url + doc["_id"], key=key)
    assert status == 400 and error_code(raw) == "ExportNotComplete"
    # By timestamp only completed exports are looked up.
    status, _ctype, raw = request(url + str(int(doc["start_ts"])), key=key)
    assert status == 404 and error_code(raw) == "ExportNotFound"


def test_a_completed_export_downloads_by_id_and_by_timestamp(convex_standin):
    convex_standin.state.tables = {name: list(rows) for name, rows in ROWS.items()}
    doc = convex_standin.state.start_export(False)
    wait_until(lambda: doc["state"] == "completed")
    for ident in (doc["_id"], str(int(doc["start_ts"]))):
        status, _ctype, raw = request(convex_standin.url + "/api/export/zip/" + ident, key=convex_standin.admin_key())
        assert status == 200 and zipfile.ZipFile(io.BytesIO(raw)).read("users/documents.jsonl")


# crates/value/src/id_v6.rs: ids decode only when canonical with a valid footer.
def test_document_ids_follow_the_upstream_encoding():
    # A real storage id from upstream (npm-packages/system-udfs/convex/_system/frontend/latestExport.ts).
    table, internal = lib.decode_document_id("kg27rxfv99gzp01wmph0gvt92d6hnvy6")
    assert table == 540 and lib.encode_document_id(table, internal) == "kg27rxfv99gzp01wmph0gvt92d6hnvy6"
    made = lib.new_id()
    assert lib.decode_document_id(made)[0] == lib.STANDIN_TABLE_NUMBER
    flipped = made[:-1] + ("0" if made[-1] != "0" else "1")
    assert lib.decode_document_id(flipped) is None
    assert lib.decode_document_id("1" * 32) is None and lib.decode_document_id("KG27RXFV99GZP01WMPH0GVT92D6HNVY6") is None


# ---------------------------------------------------------------- keys
# crates/local_backend/src/dashboard.rs check_admin_key: only a DeploymentAdmin passes.
def test_a_system_key_is_refused_by_check_admin_key_but_works_elsewhere(convex_standin):
    system = convex_standin.admin_key(system=True)
    status, _ctype, raw = request(convex_standin.url + "/api/check_admin_key", key=system)
    assert status == 403 and error_code(raw) == "BadDeployKey"
    assert json.loads(raw)["message"] == lib.BAD_DEPLOY_KEY_MESSAGE
    # crates/roles/src/eval.rs require_operation: System identities are always allowed.
    assert request(convex_standin.url + "/api/list_environment_variables", key=system)[0] == 200
    status, _ctype, raw = request(convex_standin.url + "/api/check_admin_key", key=convex_standin.admin_key())
    assert status == 200 and json.loads(raw) == {"success": True, "allowedOps": [], "isReadOnly": False}
    assert request(convex_standin.url + "/api/check_admin_key")[0] == 403


# ---------------------------------------------------------------- functions and HTTP actions
# crates/local_backend/src/public_api.rs public_query_post: a function error is HTTP 200.
def test_a_failed_query_is_http_200_with_status_error(convex_standin):
    status, _ctype, raw = request(convex_standin.url + "/api/query", "POST", key=convex_standin.admin_key(),
                                  body={"path": "_system/cli/nothing:here", "args": {}, "format": "json"})
    assert status == 200 and json.loads(raw)["status"] == "error"


# crates/application/src/application_function_runner/http_routing.rs run_http_action (no http.js).
def test_http_actions_without_http_js(convex_standin):
    for url in (convex_standin.url + "/http/anything", convex_standin.site_url + "/anything",
                convex_standin.site_url + "/.well-known/openid-configuration"):
        status, ctype, raw = request(url)
        assert status == 404 and ctype == "text/plain; charset=utf-8"
        assert raw.decode("utf-8") == "This Convex deployment does not have HTTP actions enabled."
