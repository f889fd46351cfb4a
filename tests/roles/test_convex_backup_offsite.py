# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offsite copies of the convex_backup sets, against the real restic (0.19.1, the version of
Homebrew's formula, built by scripts/build-restic.sh) and a real OpenSSH sshd on loopback (a
child of the test, with a generated host key and an authorized key) for the SFTP repository.

The job is installed by the role's own tasks (variables from an inventory's host_vars, as users set
them), run by Debian's /usr/bin/python3 -I -S against the Convex TEST STAND-IN; playbooks/restore.yml
with convex_restore_source=offsite then restores from the SFTP repository into an empty stand-in.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time

import pytest

from playbook_runner import ROOT, ansible_playbook, ansible_playbook_with_inventory, assert_no_leak, write_inventory

sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
sys.path.insert(0, str(ROOT / ".collections"))
import convex_standin as standin_lib  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_health as health  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite  # noqa: E402  pylint: disable=wrong-import-position

SYSTEM_PYTHON = "/usr/bin/python3"
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
PASSWORD = "offsite-" + secrets.token_hex(12)
TABLES = {
    "messages": [{"_id": "m%03d" % i, "_creationTime": 1.7e12 + i, "body": "hello %d" % i} for i in range(50)],
    "users": [{"_id": "u1", "_creationTime": 1.7e12, "name": "joel"}],
}
ENV = {"SITE_URL": "https://example.test", "SECRET_TOKEN": "s3cr3t-" + secrets.token_hex(8)}

INSTALL_PLAY = """
- hosts: localhost
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Validate, then install the backup job as the role does.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: "{{ item }}"
      loop: [validate.yml, install.yml]
"""


@pytest.fixture(scope="module")
def restic():
    """The cached restic; a missing one is an error (make setup builds it), never a skip."""
    path = subprocess.run(["bash", str(ROOT / "scripts" / "build-restic.sh"), "--path"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: run `make setup` (or `bash scripts/build-restic.sh`) first" % path, pytrace=False)
    return path


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on a free loopback port, not a daemon (-D), keys made for this test only.
    Options as documented in sshd_config(5) of Debian 12's OpenSSH 9.2."""
    if not os.access(SSHD, os.X_OK):
        pytest.fail("%s is missing: run `make setup` (it installs openssh-server)" % SSHD, pytrace=False)
    base = tmp_path_factory.mktemp("sshd")
    os.chmod(base, 0o700)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    (base / "authorized_keys").write_text((base / "client_key.pub").read_text())
    os.chmod(base / "authorized_keys", 0o600)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory (root)
    port = free_port()
    config = base / "sshd_config"
    config.write_text("\n".join([
        "Port %d" % port, "ListenAddress 127.0.0.1", "HostKey %s" % (base / "host_key"), "PidFile none",
        "AuthorizedKeysFile %s" % (base / "authorized_keys"), "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
        "Subsystem sftp %s" % SFTP_SERVER, "LogLevel ERROR", ""]))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail("sshd did not start: %s" % proc.stderr.read(), pytrace=False)
            time.sleep(0.05)
    host_pub = (base / "host_key.pub").read_text().split()
    (base / "known_hosts").write_text("[127.0.0.1]:%d %s %s\n" % (port, host_pub[0], host_pub[1]))
    repo_root = base / "srv"
    repo_root.mkdir()
    yield {"port": port, "identity_file": str(base / "client_key"), "known_hosts_file": str(base / "known_hosts"),
           "user": getpass.getuser(), "root": str(repo_root)}
    proc.terminate()
    proc.wait(timeout=10)


def sftp_repo(sshd, name, path, port=None):
    return {"name": name, "type": "sftp", "host": "127.0.0.1", "port": port or sshd["port"], "user": sshd["user"],
            "path": path, "identity_file": sshd["identity_file"], "known_hosts_file": sshd["known_hosts_file"]}


def restic_json(restic, repo, password_file, *args):
    runner = offsite.Restic(restic, password_file)
    return json.loads(runner.call(repo, list(args) + ["--json"]).stdout)


# ---------------------------------------------------------------------------- the job, end to end
@pytest.fixture(scope="module")
def offsite_run(restic, sshd, tmp_path_factory):
    """Install the job with three repositories (local, SFTP, an SFTP port nobody listens on) and
    run it once. Restic is called through a wrapper that records every argv it was given."""
    tmp = tmp_path_factory.mktemp("offsite")
    standin = standin_lib.ConvexStandin("joelclaw", secrets.token_hex(32)).start()
    standin.state.tables = json.loads(json.dumps(TABLES))
    standin.state.env = dict(ENV)
    state = tmp / "state"
    os.makedirs(state, mode=0o700)
    argv_log = tmp / "restic-argv.log"
    wrapper = tmp / "restic"
    wrapper.write_text("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s \"$@\"\n" % (argv_log, restic))
    os.chmod(wrapper, 0o755)
    (tmp / "usb").mkdir()
    repos = [{"name": "usb", "type": "local", "path": str(tmp / "usb" / "convex-restic")},
             sftp_repo(sshd, "nas", sshd["root"] + "/convex"),
             sftp_repo(sshd, "down", sshd["root"] + "/down", port=free_port())]
    host_vars = {
        "convex_state_dir": str(state), "convex_backup_dir": str(state / "backups"),
        "convex_admin_key_env_file": str(state / "convex-admin.env"),
        "convex_backend_image": "ghcr.io/get-convex/convex-backend:" + "a" * 40, "convex_instance_name": "joelclaw",
        "convex_host_bind_address": "127.0.0.1",
        "convex_published_ports": {"api": {"host_port": int(standin.url.rsplit(":", 1)[1]), "node_port": 30010}},
        "convex_backup_url": standin.url,
        "convex_backup_offsite_repositories": repos, "convex_backup_offsite_password": PASSWORD,
        "convex_backup_restic": str(wrapper), "convex_backup_keep_daily": 3, "convex_backup_keep_weekly": 0,
    }
    with open(host_vars["convex_admin_key_env_file"], "w") as handle:
        handle.write("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (standin.url, standin.admin_key()))
    # At -vvv: the leak check of the role (issue 16).
    install = ansible_playbook(tmp / "install", INSTALL_PLAY, host_vars=host_vars, verbosity=3)
    install_dir = state / "backup-job"
    job = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(install_dir / "convex_backup_job.py"), "--config",
                          str(install_dir / "config.json")], capture_output=True, text=True, timeout=300, check=False)
    yield {"tmp": tmp, "state": state, "repos": repos, "host_vars": host_vars, "install": install, "job": job,
           "standin": standin, "argv_log": argv_log, "install_dir": install_dir}
    standin.stop()


def test_job_copies_each_set_to_every_reachable_repository(offsite_run, restic):
    assert offsite_run["install"].rc == 0, offsite_run["install"].output
    job = offsite_run["job"]
    # "down" is unreachable: the run reports it and exits 1, the local set and the other copies stand.
    assert job.returncode == 1, job.stderr
    assert "convex-backup: backup snapshot_joelclaw_" in job.stderr
    assert "FAILED: offsite down:" in job.stderr and "(the local set snapshot_joelclaw_" in job.stderr
    sets, _partial = backup.scan(offsite_run["host_vars"]["convex_backup_dir"])
    assert [s["status"] for s in sets] == ["good"]
    password_file = str(offsite_run["install_dir"] / "restic-password")
    for repo in offsite_run["repos"][:2]:
        assert "offsite %s: copied %s as snapshot " % (repo["name"], sets[0]["base"] + ".zip") in job.stderr
        snaps = restic_json(restic, repo, password_file, "snapshots")
        assert len(snaps) == 1 and "set:" + sets[0]["base"] in snaps[0]["tags"], snaps
        assert snaps[0]["hostname"] == "joelclaw"
    assert "restic check --read-data-subset 5% passed" in job.stderr
    status = json.loads((offsite_run["state"] / "offsite-status.json").read_text())["repositories"]
    assert status["usb"]["last_error"] is None and status["nas"]["last_error"] is None
    assert status["down"]["last_error"] and status["down"].get("newest_snapshot_unix") is None
    assert abs(status["nas"]["newest_snapshot_unix"] - sets[0]["created_unix"]) < 1.5
    assert not os.path.exists(os.path.join(sshd_root(offsite_run), "down", "config"))


def sshd_root(offsite_run):
    return os.path.dirname(offsite_run["repos"][1]["path"])


def test_password_stays_in_one_0600_file(offsite_run):
    install_dir = offsite_run["install_dir"]
    password_file = install_dir / "restic-password"
    assert password_file.read_text() == PASSWORD
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    for path in (offsite_run["state"] / "offsite-status.json", install_dir / "config.json"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert PASSWORD not in path.read_text()
    # Nothing restic was started with holds the password; nor did Ansible or the job print it.
    argv = offsite_run["argv_log"].read_text()
    assert "backup --json" in argv and PASSWORD not in argv
    assert_no_leak(offsite_run["install"], {"restic password": PASSWORD,
                                            "admin key": offsite_run["standin"].admin_key()})
    assert PASSWORD not in offsite_run["job"].stderr


def test_restore_playbook_restores_from_sftp_into_the_backend(offsite_run, tmp_path):
    """playbooks/restore.yml source=offsite: restic restore into a temp dir, verify, import."""
    target = standin_lib.ConvexStandin("joelclaw", secrets.token_hex(32)).start()
    try:
        host_vars = dict(offsite_run["host_vars"], convex_backup_url=target.url)
        key_file = tmp_path / "target-admin.env"
        key_file.write_text("CONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % target.admin_key())
        os.chmod(key_file, 0o600)
        host_vars["convex_admin_key_env_file"] = str(key_file)
        inventory = write_inventory(tmp_path, host_vars)
        run = ansible_playbook_with_inventory(
            tmp_path / "run", ROOT / "playbooks" / "restore.yml", inventory,
            extra_vars={"convex_restore_source": "offsite", "convex_restore_repository": "nas",
                        "convex_restore_backup": "latest", "convex_restore_confirm": "joelclaw"}, verbosity=3)
        assert run.rc == 0, run.output
        assert target.state.tables["messages"] == TABLES["messages"]
        assert target.state.tables["users"] == TABLES["users"]
        assert target.state.env == ENV
        assert_no_leak(run, {"restored environment variable": ENV["SECRET_TOKEN"], "restic password": PASSWORD,
                             "admin key": target.admin_key()})
    finally:
        target.stop()


def test_wrong_password_is_refused_and_nothing_is_reinitialised(offsite_run, restic, tmp_path):
    usb, nas = offsite_run["repos"][0], offsite_run["repos"][1]
    config_before = open(os.path.join(usb["path"], "config"), "rb").read()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    os.chmod(wrong, 0o600)
    runner = offsite.Restic(restic, str(wrong))
    for repo in (usb, nas):
        with pytest.raises(offsite.OffsiteError) as caught:
            runner.exists(repo)
        assert caught.value.kind == "wrong_password", caught.value.message
    # A whole job run with the wrong password: every copy refused, the new local set kept, exit 1.
    config = json.loads((offsite_run["install_dir"] / "config.json").read_text())
    config["offsite"]["password_file"] = str(wrong)
    config["offsite"]["repositories"] = [usb]
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    os.chmod(config_path, 0o600)
    job = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(offsite_run["install_dir"] / "convex_backup_job.py"),
                          "--config", str(config_path)], capture_output=True, text=True, timeout=300, check=False)
    assert job.returncode == 1, job.stderr
    assert "FAILED: offsite usb:" in job.stderr and "wrong password (restic exit 12)" in job.stderr
    new_set = job.stderr.split("(the local set ", 1)[1].split(" is kept)")[0]
    assert os.path.isfile(os.path.join(offsite_run["host_vars"]["convex_backup_dir"], new_set))
    assert open(os.path.join(usb["path"], "config"), "rb").read() == config_before
    assert "not-the-password" not in job.stderr


def test_a_group_readable_password_file_is_refused(restic, tmp_path):
    loose = tmp_path / "pw"
    loose.write_text(PASSWORD)
    os.chmod(loose, 0o640)
    with pytest.raises(offsite.OffsiteError, match="mode 0640; it must be 0600"):
        offsite.check_password_file(str(loose))


# ---------------------------------------------------------------------------- retention, real restic
def make_set(backup_dir, created, payload):
    base = "snapshot_joelclaw_%d" % int(created * 1e9)
    with open(os.path.join(backup_dir, base + ".zip"), "wb") as out:
        out.write(payload)
    backup.write_private_json(os.path.join(backup_dir, base + ".env.json"), {"environmentVariables": {}})
    manifest = {"file": base + ".zip", "env_file": base + ".env.json", "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(), "created_unix": created}
    backup.write_private_json(os.path.join(backup_dir, base + ".manifest.json"), manifest)
    return manifest


def test_retention_mirrors_keep_daily_and_the_repository_is_initialised_once(restic, tmp_path):
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    os.chmod(password_file, 0o600)
    repo = {"name": "usb", "type": "local", "path": str(tmp_path / "repo")}
    config = {"restic": restic, "password_file": str(password_file), "cache_dir": str(tmp_path / "cache"),
              "status_file": str(tmp_path / "status.json"), "stage_dir": str(tmp_path / "stage"),
              "repositories": [repo], "keep_daily": 2, "keep_weekly": 0, "check_every_days": 0,
              "check_subset": None, "timeout": 120}
    lines = []
    day = 86400.0
    start = 1790000000.0  # 2026-09-21, UTC noon-ish; four sets on four days, two on the last day
    created = [start, start + day, start + 2 * day, start + 3 * day, start + 3 * day + 600]
    # The job runs a minute after each set, except the last, which is copied the next day: forget
    # --prune runs once per UTC day, so it is that run that drops the older set of day 4.
    runs = [when + 60 for when in created[:-1]] + [created[-1] + day]
    for index, when in enumerate(created):
        manifest = make_set(str(backup_dir), when, os.urandom(4096) + bytes([index]))
        assert offsite.copy_offsite(config, manifest, str(backup_dir), "joelclaw", lines.append,
                                    backup.write_private_json, clock=lambda at=runs[index]: at) == []
    assert sum("(repository initialised)" in line for line in lines) == 1, lines
    assert sum("retention removed" in line for line in lines) == 5, lines
    snaps = restic_json(restic, repo, str(password_file), "snapshots")
    kept = sorted(offsite.snapshot_unix(s["time"]) for s in snaps)
    # keep-daily 2: the newest of the last two days with a snapshot; the earlier one of day 4 goes too.
    assert kept == [created[2], created[4]], (kept, lines)
    status = json.loads((tmp_path / "status.json").read_text())["repositories"]["usb"]
    assert status["snapshots"] == 2 and status["newest_snapshot_unix"] == created[4]
    # The restored newest set is the last one, under its own names.
    target = tmp_path / "restored"
    target.mkdir()
    result = offsite.Restic(restic, str(password_file)).restore(repo, "joelclaw", None, str(target))
    assert result["set"] == "snapshot_joelclaw_%d" % int(created[4] * 1e9)
    assert sorted(os.listdir(target)) == sorted(result["files"])


def test_an_unmounted_disk_is_not_initialised_on_the_local_disk(restic, tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    os.chmod(password_file, 0o600)
    repo = {"name": "usb", "type": "local", "path": str(tmp_path / "Volumes" / "Backup" / "convex-restic")}
    runner = offsite.Restic(restic, str(password_file))
    assert runner.exists(repo) is False  # restic exit 10
    with pytest.raises(offsite.OffsiteError, match="is the disk mounted"):
        runner.init(repo)
    assert not (tmp_path / "Volumes").exists()


# ---------------------------------------------------------------------------- health
def test_health_reports_the_age_of_each_repository(tmp_path):
    now = 1790000000.0
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"repositories": {
        "usb": {"newest_snapshot_unix": now - 3600, "last_error": None, "url": "/Volumes/x"},
        "nas": {"newest_snapshot_unix": now - 30 * 3600, "last_error": "restic exit 1"},
        "new": {"last_error": "connection refused"},
        "chk": {"newest_snapshot_unix": now - 60, "last_check_ok": False, "last_check_error": "pack damaged"},
    }}))
    probes = {p["name"]: p for p in health.probe_offsite(str(status), 26, 50, now=now)}
    assert probes["offsite_age usb"]["status"] == "ok" and probes["offsite_age usb"]["value"] == "1.0h"
    assert probes["offsite_age nas"]["status"] == "warn" and "restic exit 1" in probes["offsite_age nas"]["hint"]
    assert probes["offsite_age new"]["status"] == "fail"
    assert probes["offsite_age chk"]["status"] == "warn" and "pack damaged" in probes["offsite_age chk"]["hint"]
    assert health.probe_offsite(str(tmp_path / "missing.json"), 26, 50)[0]["status"] == "fail"


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("repos,password,needle", [
    ([{"name": "usb", "type": "local", "path": "/Volumes/Backup/r"}], "",
     "convex_backup_offsite_password must be the repositories' password"),
    ([{"name": "b2", "type": "b2", "path": "/bucket"}], PASSWORD, "type local or sftp (sftp also needs host and user); unknown types:"),
], ids=["no-password", "unknown-type"])  # fixed ids: PASSWORD is random, and pytest-xdist workers must agree
def test_bad_offsite_input_fails_before_any_change(tmp_path, repos, password, needle):
    state = tmp_path / "state"
    host_vars = {
        "convex_state_dir": str(state), "convex_backup_dir": str(state / "backups"),
        "convex_admin_key_env_file": str(state / "convex-admin.env"), "convex_backend_image": "img",
        "convex_instance_name": "joelclaw", "convex_host_bind_address": "127.0.0.1",
        "convex_published_ports": {"api": {"host_port": 3210, "node_port": 30010}},
        "convex_backup_offsite_repositories": repos, "convex_backup_offsite_password": password,
    }
    run = ansible_playbook(tmp_path / "run", INSTALL_PLAY, host_vars=host_vars)
    assert run.rc != 0
    assert " ".join(needle.split()) in " ".join(run.output.split()), run.output
    assert not state.exists()
    if password:
        assert password not in run.output


def test_module_refuses_an_unknown_repository_type():
    problems = offsite.check_repositories([{"name": "x", "type": "s3", "path": "/b"}, {"name": "x", "type": "local"}])
    assert "repository x: type='s3' is not a known repository type; use one of local, sftp" in problems
    assert "repository x: path=None must be an absolute path" in problems
    assert any("the name is used twice" in p for p in problems)


def test_stage_keeps_an_unchanged_zip_so_restic_does_not_read_it_again(tmp_path):
    backup_dir, stage = tmp_path / "b", tmp_path / "s"
    backup_dir.mkdir()
    payload = os.urandom(1000)
    first = make_set(str(backup_dir), 1790000000.0, payload)
    assert offsite.stage_set(str(stage), str(backup_dir), first) is True
    inode = os.stat(stage / offsite.STAGE_ZIP).st_ino
    second = make_set(str(backup_dir), 1790000600.0, payload)
    assert offsite.stage_set(str(stage), str(backup_dir), second) is False
    assert os.stat(stage / offsite.STAGE_ZIP).st_ino == inode
    third = make_set(str(backup_dir), 1790001200.0, payload + b"x")
    assert offsite.stage_set(str(stage), str(backup_dir), third) is True
    assert (stage / offsite.STAGE_ZIP).read_bytes() == payload + b"x"
    assert stat.S_IMODE(os.stat(stage).st_mode) == 0o700
    shutil.rmtree(stage)
