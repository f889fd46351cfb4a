# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
import socket
import stat

import convex_standin
import pytest

from ansible_collections.joelclaw.macmini.plugins.modules import convex_admin_key


@pytest.fixture
def run_module(run_module):  # pylint: disable=redefined-outer-name
    """The shared runner, as a task with no_log: true runs the module (its result holds the key)."""
    def run(module, args, check_mode=False, diff=False, no_log=True):
        return run_module(module, dict(args, _ansible_no_log=no_log), check_mode=check_mode, diff=diff)
    return run


def test_refuses_to_run_unless_the_task_is_no_log(run_module, convex_secret):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret},
                        no_log=False)
    assert result["failed"] is True and "no_log: true" in result["msg"] and "admin_key" not in result


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return "http://127.0.0.1:%d" % port


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text


def test_offline_key_is_valid_for_the_backend_and_changes_nothing(run_module, convex_secret):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret})
    assert result["changed"] is False and result["verified"] is False and result["env_file_changed"] is False
    assert convex_standin.key_is_admin(result["admin_key"], "joelclaw", bytes.fromhex(convex_secret))
    assert_no_secret(result, convex_secret)


def test_live_check_accepts_the_key(run_module, convex_standin, convex_secret):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret,
                                           "url": convex_standin.url})
    assert result["verified"] is True and result["backend_instance_name"] == "joelclaw"
    assert ("GET", "/api/check_admin_key") in convex_standin.state.requests


def test_rotated_secret_is_named_in_the_error(run_module, convex_standin):
    other = "ab" * 32
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": other,
                                           "url": convex_standin.url})
    assert result["failed"] is True and result["verified"] is False
    assert "does not belong to instance joelclaw" in result["msg"] and "INSTANCE_SECRET rotated" in result["msg"]
    assert result["error"]["code"] == "BadAdminKey" and result["error"]["status"] == 401
    assert_no_secret(result, other)
    assert "admin_key" not in result


def test_wrong_instance_name_is_refused_before_the_key_check(run_module, convex_standin, convex_secret):
    result = run_module(convex_admin_key, {"instance_name": "other", "instance_secret": convex_secret,
                                           "url": convex_standin.url})
    assert result["failed"] is True and "is instance 'joelclaw', not 'other'" in result["msg"]
    assert ("GET", "/api/check_admin_key") not in convex_standin.state.requests


def test_backend_down_fails_clearly(run_module, convex_secret):
    url = closed_port_url()
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret,
                                           "url": url, "timeout": 2})
    assert result["failed"] is True and "connection refused" in result["msg"] and url in result["msg"]


def test_verify_can_be_switched_off(run_module, convex_secret):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret,
                                           "url": closed_port_url(), "verify": False})
    assert result["changed"] is False and result["verified"] is False


def test_bad_secret_is_refused_without_echoing_it(run_module):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": "deadbeef"})
    assert result["failed"] is True and "64 hex characters" in result["msg"]


def test_env_file_is_written_once_then_kept(run_module, convex_standin, convex_secret, tmp_path):
    env_file = str(tmp_path / "state" / "convex-admin.env")
    args = {"instance_name": "joelclaw", "instance_secret": convex_secret, "url": convex_standin.url + "/",
            "env_file": env_file}
    first = run_module(convex_admin_key, args, diff=True)
    assert first["changed"] is True and first["env_file_changed"] is True and first["key_reused"] is False
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(env_file)).st_mode) == 0o700
    with open(env_file) as handle:
        content = handle.read()
    assert "CONVEX_SELF_HOSTED_URL=%s\n" % convex_standin.url in content
    assert "CONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % first["admin_key"] in content
    assert first["admin_key"] not in json.dumps(first["diff"])
    mtime = os.stat(env_file).st_mtime_ns

    second = run_module(convex_admin_key, args)
    assert second["changed"] is False and second["key_reused"] is True
    assert second["admin_key"] == first["admin_key"]
    assert os.stat(env_file).st_mtime_ns == mtime


def test_env_file_check_mode_reports_without_writing(run_module, convex_standin, convex_secret, tmp_path):
    env_file = str(tmp_path / "convex-admin.env")
    args = {"instance_name": "joelclaw", "instance_secret": convex_secret, "url": convex_standin.url,
            "env_file": env_file}
    result = run_module(convex_admin_key, args, check_mode=True)
    assert result["changed"] is True and result["env_file_changed"] is True and result["verified"] is True
    assert not os.path.exists(env_file)


def test_env_file_with_a_stale_key_is_rewritten(run_module, convex_standin, convex_secret, tmp_path):
    env_file = tmp_path / "convex-admin.env"
    stale = convex_standin_key_for_other_secret()
    env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (convex_standin.url, stale))
    os.chmod(env_file, 0o600)
    args = {"instance_name": "joelclaw", "instance_secret": convex_secret, "url": convex_standin.url,
            "env_file": str(env_file)}
    check = run_module(convex_admin_key, args, check_mode=True)
    assert check["changed"] is True and stale in env_file.read_text()
    result = run_module(convex_admin_key, args)
    assert result["changed"] is True and result["key_reused"] is False
    assert stale not in env_file.read_text() and result["admin_key"] in env_file.read_text()


def test_env_file_mode_drift_is_repaired(run_module, convex_standin, convex_secret, tmp_path):
    env_file = str(tmp_path / "convex-admin.env")
    args = {"instance_name": "joelclaw", "instance_secret": convex_secret, "url": convex_standin.url,
            "env_file": env_file}
    run_module(convex_admin_key, args)
    os.chmod(env_file, 0o644)
    result = run_module(convex_admin_key, args)
    assert result["changed"] is True and result["key_reused"] is True
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600


def test_env_file_needs_url(run_module, convex_secret, tmp_path):
    result = run_module(convex_admin_key, {"instance_name": "joelclaw", "instance_secret": convex_secret,
                                           "env_file": str(tmp_path / "x.env")})
    assert result["failed"] is True and "url" in result["msg"]


def convex_standin_key_for_other_secret():
    return convex_standin.make_admin_key("joelclaw", "cd" * 32)


def test_env_file_key_in_export_quotes_and_comment_form_is_reused(run_module, convex_standin, convex_secret, tmp_path):
    env_file = tmp_path / "convex-admin.env"
    key = convex_standin.admin_key()
    env_file.write_text("# by hand\nexport CONVEX_SELF_HOSTED_URL=%s\nexport CONVEX_SELF_HOSTED_ADMIN_KEY='%s'  # kept\n"
                        % (convex_standin.url, key))
    args = {"instance_name": "joelclaw", "instance_secret": convex_secret, "url": convex_standin.url,
            "env_file": str(env_file)}
    result = run_module(convex_admin_key, args)
    assert result["key_reused"] is True and result["admin_key"] == key
