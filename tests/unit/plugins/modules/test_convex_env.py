# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import time

import pytest

from ansible_collections.joelclaw.macmini.plugins.modules import convex_env

SECRET_VALUE = "s3cr3t-value-never-shown"


@pytest.fixture
def env_args(convex_standin):
    return {"url": convex_standin.url, "admin_key": convex_standin.admin_key(), "timeout": 5}


def test_new_variables_are_set_in_one_call_then_left_alone(run_module, convex_standin, env_args):
    args = dict(env_args, variables={"JWKS": SECRET_VALUE, "SITE_URL": "https://app.example", "PORT": 8080})
    result = run_module(convex_env, args, diff=True)
    assert result["changed"] is True and result["added"] == ["JWKS", "PORT", "SITE_URL"]
    assert convex_standin.state.env == {"JWKS": SECRET_VALUE, "SITE_URL": "https://app.example", "PORT": "8080"}
    assert convex_standin.state.env_updates == [["JWKS", "PORT", "SITE_URL"]]
    assert SECRET_VALUE not in json.dumps(result)

    again = run_module(convex_env, args)
    assert again["changed"] is False and again["added"] == again["updated"] == again["removed"] == []
    assert len(convex_standin.state.env_updates) == 1


def test_check_mode_reports_the_same_change_and_sends_nothing(run_module, convex_standin, env_args):
    args = dict(env_args, variables={"A": "1"})
    result = run_module(convex_env, args, check_mode=True)
    assert result["changed"] is True and result["added"] == ["A"]
    assert convex_standin.state.env == {} and convex_standin.state.env_updates == []


def test_only_the_difference_is_sent(run_module, convex_standin, env_args):
    convex_standin.state.env.update({"A": "1", "B": "2"})
    result = run_module(convex_env, dict(env_args, variables={"A": "1", "B": "changed", "C": "3"}), diff=True)
    assert result["changed"] is True and result["added"] == ["C"] and result["updated"] == ["B"]
    assert convex_standin.state.env_updates == [["B", "C"]]
    assert "changed" not in json.dumps(result["diff"]) and "B=<new value>" in result["diff"]["after"]


def test_absent_removes_only_listed_existing_names(run_module, convex_standin, env_args):
    convex_standin.state.env.update({"A": "1", "B": "2"})
    result = run_module(convex_env, dict(env_args, variables={"A": None, "MISSING": None}, state="absent"))
    assert result["changed"] is True and result["removed"] == ["A"] and convex_standin.state.env == {"B": "2"}
    again = run_module(convex_env, dict(env_args, variables={"A": None}, state="absent"))
    assert again["changed"] is False


def test_exclusive_removes_unlisted_names(run_module, convex_standin, env_args):
    convex_standin.state.env.update({"KEEP": "1", "DROP": "2"})
    args = dict(env_args, variables={"KEEP": "1"}, exclusive=True)
    check = run_module(convex_env, args, check_mode=True)
    assert check["changed"] is True and check["removed"] == ["DROP"] and "DROP" in convex_standin.state.env
    result = run_module(convex_env, args)
    assert result["removed"] == ["DROP"] and convex_standin.state.env == {"KEEP": "1"}
    assert run_module(convex_env, dict(env_args, variables={"KEEP": "1"}))["changed"] is False


@pytest.mark.parametrize("variables, fragment", [
    ({"CONVEX_SITE_URL": "x"}, "built in"),
    ({"1BAD": "x"}, "not a valid name"),
    ({"BAD-NAME": "x"}, "not a valid name"),
    ({"A" * 257: "x"}, "longer than 256"),
    ({"BIG": "x" * 8193}, "8193 bytes"),
    ({"NULL": None}, "state=absent"),
])
def test_bad_variables_are_refused_before_any_request(run_module, convex_standin, env_args, variables, fragment):
    result = run_module(convex_env, dict(env_args, variables=variables))
    assert result["failed"] is True and fragment in result["msg"]
    assert list(convex_standin.state.requests) == []


def test_exclusive_with_absent_is_refused(run_module, env_args):
    result = run_module(convex_env, dict(env_args, variables={"A": None}, state="absent", exclusive=True))
    assert result["failed"] is True and "exclusive" in result["msg"]


def test_wrong_key_names_the_instance(run_module, convex_standin, env_args):
    import convex_standin as lib
    result = run_module(convex_env, dict(env_args, admin_key=lib.make_admin_key("joelclaw", "ef" * 32), variables={"A": "some-value"}))
    assert result["failed"] is True and "does not belong to instance joelclaw" in result["msg"]
    assert result["error"]["status"] == 401 and convex_standin.state.env == {}


def test_malformed_listing_fails_without_echoing_the_body(run_module, convex_standin, env_args):
    convex_standin.state.malformed.add("/api/list_environment_variables")
    result = run_module(convex_env, dict(env_args, variables={"A": "1"}))
    assert result["failed"] is True and "not JSON" in result["msg"] and "<html>" not in result["msg"]
    assert convex_standin.state.env_updates == []


def test_proxy_error_is_retried_then_explained(run_module, convex_standin, env_args):
    convex_standin.state.status_override["/api/list_environment_variables"] = 503
    result = run_module(convex_env, dict(env_args, variables={"A": "1"}))
    assert result["failed"] is True and "HTTP 503" in result["msg"] and "proxy" in result["msg"]
    gets = [r for r in convex_standin.state.requests if r == ("GET", "/api/list_environment_variables")]
    assert len(gets) == 3   # first try and two retries: a GET is safe to repeat


def test_timeout_is_reported(run_module, convex_standin, env_args):
    # The hang (30 s) is far beyond the timeout (0.3 s, a GET tried three times): a module that waited
    # for the answer would take 30 s at least; the bound is generous for a loaded machine, below that.
    convex_standin.state.hang["/api/list_environment_variables"] = 30
    started = time.monotonic()
    result = run_module(convex_env, dict(env_args, variables={"A": "1"}, timeout=0.3))
    assert result["failed"] is True and "no answer within 0.3s" in result["msg"]
    assert time.monotonic() - started < 15


def test_backend_down(run_module, env_args):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    result = run_module(convex_env, dict(env_args, url=url, variables={"A": "1"}))
    assert result["failed"] is True and "connection refused" in result["msg"]


# The backend's limits (512 variables, 512 KiB of names plus values) are checked on the whole set
# after the change, and a refused change keeps nothing (the stand-in follows
# crates/application/src/lib.rs update_environment_variables @ 652b828).
def test_the_variable_count_limit_is_a_clear_refusal_and_changes_nothing(run_module, convex_standin, env_args):
    existing = {"V%03d" % i: "existing-value" for i in range(511)}
    convex_standin.state.env.update(existing)
    result = run_module(convex_env, dict(env_args, variables={"NEW_ONE": "first-value", "NEW_TWO": SECRET_VALUE}))
    assert result["failed"] is True
    assert result["error"]["code"] == "EnvVarLimitMet"
    for words in ("nothing was changed", "would hold 513 variables", "512 variables", "ENV_VAR_LIMIT",
                  "state=absent"):
        assert words in result["msg"], result["msg"]
    assert SECRET_VALUE not in json.dumps(result)
    assert convex_standin.state.env == existing


def test_the_total_size_limit_is_a_clear_refusal_and_changes_nothing(run_module, convex_standin, env_args):
    # 63 values of 8 KiB plus their 5-byte names: 516,411 bytes; one more 8 KiB value goes over 524,288.
    existing = {"B%04d" % i: "y" * 8192 for i in range(63)}
    convex_standin.state.env.update(existing)
    result = run_module(convex_env, dict(env_args, variables={"BIG": "z" * 8192}))
    assert result["failed"] is True
    assert result["error"]["code"] == "EnvVarTotalSizeLimitMet"
    assert "would hold 64 variables of 524606 bytes" in result["msg"], result["msg"]
    assert "nothing was changed" in result["msg"] and "524288 bytes" in result["msg"]
    assert convex_standin.state.env == existing


def test_exactly_at_the_limits_is_accepted(run_module, convex_standin, env_args):
    convex_standin.state.env.update({"V%03d" % i: "x" for i in range(511)})
    result = run_module(convex_env, dict(env_args, variables={"LAST": "last-value"}))
    assert result["changed"] is True and len(convex_standin.state.env) == 512


# admin_key_env_file: the Convex CLI env file, read with module_utils/_convex_env_file.py (dotenv 16.4.7
# parse, as the CLI: get-convex/convex-js src/cli/lib/deploymentSelection.ts @ 8e20ab9).
@pytest.mark.parametrize("module", ["convex_env", "convex_export", "convex_import"])
def test_admin_key_env_file_option_is_mutually_exclusive_and_required(run_module, convex_standin, module, tmp_path):
    from ansible_collections.joelclaw.macmini.plugins import modules as modules_pkg
    mod = __import__(modules_pkg.__name__ + "." + module, fromlist=[module])
    extra = {"convex_env": {}, "convex_export": {"dest": str(tmp_path / "x.zip")},
             "convex_import": {"src": str(tmp_path / "x.zip"), "mode": "replace"}}[module]
    both = run_module(mod, dict(extra, url=convex_standin.url, admin_key="k", admin_key_env_file=str(tmp_path / "e")))
    assert both.get("failed") and "mutually exclusive" in both["msg"]
    none = run_module(mod, dict(extra, url=convex_standin.url))
    assert none.get("failed") and "one of the following is required: admin_key, admin_key_env_file" in none["msg"]


def test_admin_key_from_the_env_file_in_cli_syntax(run_module, convex_standin, tmp_path):
    key = convex_standin.admin_key()
    env_file = tmp_path / ".env.local"
    env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\nexport CONVEX_SELF_HOSTED_ADMIN_KEY='%s'  # from the dashboard\n"
                        % (convex_standin.url, key))
    result = run_module(convex_env, {"url": convex_standin.url, "admin_key_env_file": str(env_file),
                                     "variables": {"A": "1"}, "timeout": 5})
    assert result["changed"] is True and convex_standin.state.env == {"A": "1"}
    assert key not in json.dumps(result)


def test_env_file_without_a_key_fails_before_any_request(run_module, convex_standin, tmp_path):
    env_file = tmp_path / ".env.local"
    env_file.write_text("CONVEX_SELF_HOSTED_ADMIN_KEY=\n")
    result = run_module(convex_env, {"url": convex_standin.url, "admin_key_env_file": str(env_file),
                                     "variables": {"A": "1"}})
    assert result.get("failed") and "has no CONVEX_SELF_HOSTED_ADMIN_KEY line" in result["msg"] and convex_standin.state.env_updates == []
    missing = run_module(convex_env, {"url": convex_standin.url, "admin_key_env_file": str(tmp_path / "nope"),
                                      "variables": {"A": "1"}})
    assert missing.get("failed") and "cannot be read" in missing["msg"]
