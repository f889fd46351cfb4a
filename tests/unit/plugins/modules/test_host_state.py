# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.joelclaw.macmini.plugins.modules import host_state


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            host_state.main()
    return json.loads(capsys.readouterr().out)


def test_file_directory_link_and_missing_paths_in_one_answer(capsys, tmp_path):
    manifest = tmp_path / "service.yml"
    manifest.write_bytes(b"kind: Service\n")
    manifest.chmod(0o640)
    directory = tmp_path / "render"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    link = tmp_path / "link.yml"
    link.symlink_to(manifest)
    paths = [str(manifest), str(directory), str(link), str(tmp_path / "gone.yml"), str(manifest / "under-a-file")]
    result = run(capsys, paths=paths)
    assert result["changed"] is False
    states = result["paths"]
    assert sorted(states) == sorted(paths)
    me, group = pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0]
    assert states[str(manifest)] == {"exists": True, "type": "file", "mode": "0640", "owner": me, "group": group,
                                     "checksum": hashlib.sha1(b"kind: Service\n").hexdigest()}
    assert states[str(directory)] == {"exists": True, "type": "directory", "mode": "0700", "owner": me, "group": group}
    # A link is not followed: a caller comparing with a file's wanted state sees a difference.
    assert states[str(link)]["type"] == "link" and "checksum" not in states[str(link)]
    assert states[str(link)]["target"] == str(manifest)
    assert states[str(tmp_path / "gone.yml")] == {"exists": False, "type": "absent"}
    assert states[str(manifest / "under-a-file")] == {"exists": False, "type": "absent"}


def test_a_one_byte_edit_changes_the_checksum(capsys, tmp_path):
    manifest = tmp_path / "statefulset.yml"
    manifest.write_text("replicas: 1\n")
    before = run(capsys, paths=[str(manifest)])["paths"][str(manifest)]["checksum"]
    manifest.write_text("replicas: 2\n")
    after = run(capsys, paths=[str(manifest)])["paths"][str(manifest)]["checksum"]
    assert before != after == hashlib.sha1(b"replicas: 2\n").hexdigest()


def test_contents_returns_kept_values_in_the_same_answer_under_no_log(capsys, tmp_path):
    kept = tmp_path / "dashboard.bcrypt"
    kept.write_bytes(b"$2b$12$abcdefghijklmnopqrstuu\n")
    kept.chmod(0o600)
    missing = tmp_path / "api.bcrypt"
    result = run(capsys, paths=[str(tmp_path)], contents=[str(kept), str(missing)], _ansible_no_log=True)
    states = result["paths"]
    assert sorted(states) == sorted([str(tmp_path), str(kept), str(missing)])
    assert base64.b64decode(states[str(kept)]["content"]) == b"$2b$12$abcdefghijklmnopqrstuu\n"
    assert states[str(kept)]["mode"] == "0600"
    assert states[str(kept)]["checksum"] == hashlib.sha1(b"$2b$12$abcdefghijklmnopqrstuu\n").hexdigest()
    assert states[str(missing)] == {"exists": False, "type": "absent"}
    assert "content" not in states[str(tmp_path)]


def test_contents_without_no_log_is_refused_before_anything_is_read(capsys, tmp_path):
    kept = tmp_path / "dashboard.bcrypt"
    kept.write_text("$2b$12$secretsecretsecret\n")
    result = run(capsys, contents=[str(kept)])
    assert result["failed"] is True
    assert "no_log: true" in result["msg"] and "secretsecret" not in json.dumps(result)
    assert "paths" not in result


@pytest.mark.parametrize("kind, message", [("large", "larger than 65536 bytes"), ("directory", "regular files only"),
                                           ("relative", "contents must be absolute")])
def test_contents_refuses_what_is_not_a_small_file(capsys, tmp_path, kind, message):
    target = {"large": tmp_path / "big.bin", "directory": tmp_path, "relative": "kept.bcrypt"}[kind]
    if kind == "large":
        target.write_bytes(b"x" * (64 * 1024 + 1))
    result = run(capsys, contents=[str(target)], _ansible_no_log=True)
    assert result["failed"] is True and message in result["msg"], result


def test_pythons_report_the_version_each_interpreter_runs_as_the_jobs_run_it(capsys, tmp_path):
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\n[ \"$1 $2\" = \"-I -S\" ] || exit 9\necho 3.8\n")
    stub = tmp_path / "stub-python3"
    stub.write_text("#!/bin/sh\necho 'xcode-select: note: no developer tools were found' >&2\nexit 1\n")
    for script in (old, stub):
        script.chmod(0o755)
    missing = str(tmp_path / "no-such-python3")
    me = sys.executable
    result = run(capsys, pythons=[me, str(old), str(stub), missing])
    pythons = result["pythons"]
    assert pythons[me] == {"rc": 0, "version": "%d.%d" % sys.version_info[:2], "error": ""}
    assert pythons[str(old)] == {"rc": 0, "version": "3.8", "error": ""}  # run with -I -S, or it exits 9
    assert pythons[str(stub)] == {"rc": 1, "version": "", "error": "xcode-select: note: no developer tools were found"}
    assert pythons[missing]["rc"] == -1 and pythons[missing]["version"] == ""
    assert "No such file" in pythons[missing]["error"]
    assert result["changed"] is False


def test_relative_paths_are_refused(capsys):
    result = run(capsys, paths=["/etc/hostname", "render/service.yml"])
    assert result["failed"] is True
    assert "render/service.yml" in result["msg"] and "absolute" in result["msg"]


def test_users_and_groups_as_the_host_databases_have_them(capsys):
    me = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(me.pw_gid)
    result = run(capsys, users=[me.pw_name, "no-such-user-joelclaw"], groups=[group.gr_name, "no-such-group-joelclaw"])
    assert result["users"] == {
        me.pw_name: {"exists": True, "uid": me.pw_uid, "group": group.gr_name, "home": me.pw_dir, "shell": me.pw_shell},
        "no-such-user-joelclaw": {"exists": False},
    }
    assert result["groups"] == {group.gr_name: {"exists": True, "gid": group.gr_gid},
                                "no-such-group-joelclaw": {"exists": False}}
    assert result["paths"] == {} and result["systemd_units"] == {}


# Recorded with `systemctl show --no-pager --property=LoadState,ActiveState,UnitFileState,NeedDaemonReload
# caddy.service joelclaw-convex-backup.timer nosuch.timer` in the molecule default host (Debian 12's
# systemd 252.39-1~deb12u2, PID 1), after a converge and a `touch` of the timer's unit file; what systemctl prints comes from systemd's
# src/systemctl/systemctl-show.c (one block per unit in the order asked, an empty line between blocks).
SYSTEMCTL_SHOW = """LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=no

LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=yes

LoadState=not-found
ActiveState=inactive
UnitFileState=
NeedDaemonReload=no
"""


def test_systemd_units_from_one_systemctl_show(capsys, monkeypatch):
    calls = []

    def run_command(self, args, **kwargs):
        calls.append(args)
        return 0, SYSTEMCTL_SHOW, ""

    monkeypatch.setattr(host_state, "systemd_running", lambda: True)
    monkeypatch.setattr(host_state.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    monkeypatch.setattr(host_state.AnsibleModule, "run_command", run_command)
    # Asked out of order and with a repeat: the module asks systemctl once, sorted and without the repeat.
    result = run(capsys, systemd_units=["nosuch.timer", "caddy.service", "joelclaw-convex-backup.timer", "caddy.service"])
    assert calls == [["/usr/bin/systemctl", "show", "--no-pager",
                      "--property=LoadState,ActiveState,UnitFileState,NeedDaemonReload",
                      "caddy.service", "joelclaw-convex-backup.timer", "nosuch.timer"]]
    assert result["systemd_units"] == {
        "caddy.service": {"load_state": "loaded", "active_state": "active", "unit_file_state": "enabled",
                          "need_daemon_reload": False},
        "joelclaw-convex-backup.timer": {"load_state": "loaded", "active_state": "active",
                                         "unit_file_state": "enabled", "need_daemon_reload": True},
        "nosuch.timer": {"load_state": "not-found", "active_state": "inactive", "unit_file_state": "",
                         "need_daemon_reload": False},
    }


@pytest.mark.parametrize("output, rc, message", [
    (SYSTEMCTL_SHOW, 1, "systemctl show failed"),
    (SYSTEMCTL_SHOW.split("\n\n", 1)[1], 0, "printed 2 blocks for 3 units"),
    (SYSTEMCTL_SHOW.replace("NeedDaemonReload=yes\n", ""), 0, "printed no NeedDaemonReload"),
])
def test_systemctl_output_that_does_not_add_up_fails_clearly(capsys, monkeypatch, output, rc, message):
    monkeypatch.setattr(host_state, "systemd_running", lambda: True)
    monkeypatch.setattr(host_state.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    monkeypatch.setattr(host_state.AnsibleModule, "run_command", lambda self, args, **kwargs: (rc, output, "boom"))
    result = run(capsys, systemd_units=["a.service", "b.timer", "c.timer"])
    assert result["failed"] is True and message in result["msg"]


def test_systemd_units_without_systemctl_or_with_odd_names_fail_clearly(capsys, monkeypatch):
    monkeypatch.setattr(host_state, "systemd_running", lambda: True)
    monkeypatch.setattr(host_state.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result = run(capsys, systemd_units=["caddy.service"])
    assert result["failed"] is True and "needs systemctl" in result["msg"]
    result = run(capsys, systemd_units=["--all", "a b.service"])
    assert result["failed"] is True and "'--all'" in result["msg"] and "'a b.service'" in result["msg"]


def test_without_a_running_systemd_nothing_is_asked_and_every_unit_is_unknown(capsys, monkeypatch):
    monkeypatch.setattr(host_state, "systemd_running", lambda: False)
    monkeypatch.setattr(host_state.AnsibleModule, "run_command",
                        lambda self, args, **kwargs: pytest.fail("systemctl was run: %s" % args))
    result = run(capsys, systemd_units=["caddy.service"])
    assert result["systemd_running"] is False
    assert result["systemd_units"] == {"caddy.service": {"load_state": "unknown", "active_state": "unknown",
                                                         "unit_file_state": "unknown", "need_daemon_reload": False}}


def test_systemd_running_is_the_sd_booted_test(monkeypatch):
    seen = []
    monkeypatch.setattr(host_state.os.path, "isdir", lambda path: seen.append(path) or True)
    assert host_state.systemd_running() is True and seen == ["/run/systemd/system"]
