# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The convex_backup role's job, installed by the role's own tasks (ansible-playbook, real files
under tmp), run by Debian's /usr/bin/python3 WITHOUT Ansible against the Convex TEST STAND-IN;
then its backup is restored into an empty stand-in and compared document by document."""
from __future__ import annotations

import json
import os
import plistlib
import secrets
import shlex
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from playbook_runner import ROOT

sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
import convex_standin as standin_lib  # noqa: E402  pylint: disable=wrong-import-position

SYSTEM_PYTHON = "/usr/bin/python3"
TABLES = {
    "messages": [{"_id": "m%03d" % i, "_creationTime": 1.7e12 + i, "body": "hello %d" % i, "n": i} for i in range(120)],
    "users": [{"_id": "u1", "_creationTime": 1.7e12, "name": "joel", "tags": ["a", "b"]}],
}
ENV = {"SITE_URL": "https://example.test", "JWKS": '{"keys":[]}'}

INSTALL_PLAY = """
- hosts: localhost
  gather_facts: true
  tasks:
    - name: Install the backup job as the role does.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: install.yml
"""

RESTORE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Restore the newest set.
      joelclaw.macmini.convex_backup_restore:
        url: "{{ url }}"
        admin_key: "{{ key }}"
        backup_dir: "{{ backup_dir }}"
        backup: latest
      register: restored
    - name: Show it.
      ansible.builtin.debug:
        var: restored.rows_written
"""


def have_system_python():
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import ansible"], capture_output=True, check=False).returncode != 0


pytestmark = pytest.mark.skipif(not have_system_python(), reason="needs a /usr/bin/python3 without Ansible")


@pytest.fixture
def source():
    standin = standin_lib.ConvexStandin("joelclaw", secrets.token_hex(32)).start()
    standin.state.tables = json.loads(json.dumps(TABLES))
    standin.state.env = dict(ENV)
    yield standin
    standin.stop()


def contract(tmp_path, standin):
    state = tmp_path / "state"
    return {
        "convex_state_dir": str(state),
        "convex_backup_dir": str(state / "backups"),
        "convex_admin_key_env_file": str(state / "convex-admin.env"),
        "convex_backend_image": "ghcr.io/get-convex/convex-backend:" + "a" * 40,
        "convex_instance_name": "joelclaw",
        "convex_host_bind_address": "127.0.0.1",
        "convex_published_ports": {"api": {"host_port": int(standin.url.rsplit(":", 1)[1]), "node_port": 30010}},
        "convex_backup_keep_daily": 2,
        "convex_backup_keep_weekly": 0,
    }


def install(run_playbook, tmp_path, standin):
    variables = contract(tmp_path, standin)
    os.makedirs(variables["convex_state_dir"], mode=0o700)
    with open(variables["convex_admin_key_env_file"], "w") as handle:
        handle.write("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (standin.url, standin.admin_key()))
    run = run_playbook(INSTALL_PLAY, variables, check=False)
    assert run.rc == 0, run.output
    return variables, run


def run_job(variables):
    install_dir = os.path.join(variables["convex_state_dir"], "backup-job")
    return subprocess.run([SYSTEM_PYTHON, "-I", "-S", os.path.join(install_dir, "convex_backup_job.py"),
                           "--config", os.path.join(install_dir, "config.json")],
                          capture_output=True, text=True, timeout=120, check=False)


def test_install_is_private_and_idempotent(run_playbook, tmp_path, source):
    variables, _run = install(run_playbook, tmp_path, source)
    install_dir = os.path.join(variables["convex_state_dir"], "backup-job")
    config = json.load(open(os.path.join(install_dir, "config.json")))
    assert config["url"] == source.url
    assert config["keep_daily"] == 2 and config["keep_weekly"] == 0
    assert stat.S_IMODE(os.stat(install_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(install_dir, "config.json")).st_mode) == 0o600
    # The job's copy of the collection code is the collection's code, byte for byte.
    for name in ("_convex_client.py", "_convex_env_file.py", "_convex_snapshot.py", "_convex_backup.py"):
        copied = os.path.join(install_dir, "lib/ansible_collections/joelclaw/macmini/plugins/module_utils", name)
        assert open(copied, "rb").read() == open(ROOT / "plugins" / "module_utils" / name, "rb").read()
    again = run_playbook(INSTALL_PLAY, variables, check=False)
    assert again.rc == 0, again.output
    assert again.recap()["changed"] == 0
    # The install copies only what differs from what is there (issue #13): an edited copy of the
    # collection's code and a loosened runner mode are each put back by the next run, and reported.
    lib = os.path.join(install_dir, "lib/ansible_collections/joelclaw/macmini/plugins/module_utils")
    with open(os.path.join(lib, "_convex_offsite.py"), "a") as handle:
        handle.write("# edited by hand\n")
    os.chmod(os.path.join(install_dir, "convex_backup_job.py"), 0o755)
    restored = run_playbook(INSTALL_PLAY, variables, check=False)
    assert restored.rc == 0, restored.output
    assert restored.recap()["changed"] == 2, restored.output  # the code copies, the runner
    assert open(os.path.join(lib, "_convex_offsite.py"), "rb").read() == open(
        ROOT / "plugins" / "module_utils" / "_convex_offsite.py", "rb").read()
    assert stat.S_IMODE(os.stat(os.path.join(install_dir, "convex_backup_job.py")).st_mode) == 0o700


def test_job_backs_up_without_ansible_and_restore_matches(run_playbook, tmp_path, source):
    variables, _run = install(run_playbook, tmp_path, source)
    proc = run_job(variables)
    assert proc.returncode == 0, proc.stderr
    assert "convex-backup: backup snapshot_joelclaw_" in proc.stderr
    assert "121 documents in 2 tables, 2 environment variables" in proc.stderr
    backup_dir = variables["convex_backup_dir"]
    manifests = [n for n in os.listdir(backup_dir) if n.endswith(".manifest.json")]
    assert len(manifests) == 1
    manifest = json.load(open(os.path.join(backup_dir, manifests[0])))
    # include_storage is the role's default: the backend writes _storage/documents.jsonl even when
    # there are no files (crates/exports/src/export_storage.rs)
    assert manifest["tables"] == {"messages": 120, "users": 1, "_storage": 0}
    assert manifest["backend_image"] == variables["convex_backend_image"]

    target = standin_lib.ConvexStandin("joelclaw", secrets.token_hex(32)).start()
    try:
        target.state.tables = {"stale": [{"_id": "s", "_creationTime": 1.0}]}
        target.state.env = {"STALE": "1"}
        run = run_playbook(RESTORE_PLAY, {"url": target.url, "key": target.admin_key(), "backup_dir": backup_dir},
                           check=False)
        assert run.rc == 0, run.output
        # Every document, field by field, and the variables: what was exported is what is there now.
        assert target.state.tables == TABLES
        assert target.state.env == ENV
    finally:
        target.stop()


def test_job_reads_a_hand_edited_key_file_and_counts_only_user_tables(run_playbook, tmp_path, source):
    """The CLI env file in the forms dotenv accepts (export, quotes, comments); an export with a
    component and file storage: the real layout, and component _tables/_storage are not tables."""
    variables, _run = install(run_playbook, tmp_path, source)
    with open(variables["convex_admin_key_env_file"], "w") as handle:
        handle.write("# edited by hand\nexport CONVEX_SELF_HOSTED_URL='%s'\n"
                     "export CONVEX_SELF_HOSTED_ADMIN_KEY=\"%s\"  # rotated\n" % (source.url, source.admin_key()))
    source.state.components = {"waitlist": {"tables": {"entries": [{"_id": "e1", "_creationTime": 1.0}]},
                                            "storage": {"kg9": b"x"}}}
    proc = run_job(variables)
    assert proc.returncode == 0, proc.stderr
    assert "122 documents in 3 tables" in proc.stderr, proc.stderr
    backup_dir = variables["convex_backup_dir"]
    manifest = json.load(open(os.path.join(backup_dir, [n for n in os.listdir(backup_dir)
                                                        if n.endswith(".manifest.json")][0])))
    assert manifest["tables"] == {"messages": 120, "users": 1, "waitlist/entries": 1, "_storage": 0,
                                  "waitlist/_storage": 1}
    assert manifest["documents"] == 122


def test_job_failure_keeps_existing_sets_and_exits_1(run_playbook, tmp_path, source):
    variables, _run = install(run_playbook, tmp_path, source)
    assert run_job(variables).returncode == 0
    before = sorted(os.listdir(variables["convex_backup_dir"]))
    source.state.faults.add("corrupt_export")
    proc = run_job(variables)
    assert proc.returncode == 1
    assert "FAILED: backup of" in proc.stderr and "corrupt" in proc.stderr
    assert sorted(os.listdir(variables["convex_backup_dir"])) == before
    source.state.faults.discard("corrupt_export")
    source.stop()
    proc = run_job(variables)
    assert proc.returncode == 1
    assert "connection refused" in proc.stderr
    assert sorted(os.listdir(variables["convex_backup_dir"])) == before


def test_job_reports_a_missing_key_file(run_playbook, tmp_path, source):
    variables, _run = install(run_playbook, tmp_path, source)
    os.unlink(variables["convex_admin_key_env_file"])
    proc = run_job(variables)
    assert proc.returncode == 1
    assert "admin_key_env_file %s cannot be read" % variables["convex_admin_key_env_file"] in proc.stderr


def test_job_refuses_a_damaged_config(run_playbook, tmp_path, source):
    variables, _run = install(run_playbook, tmp_path, source)
    config = os.path.join(variables["convex_state_dir"], "backup-job", "config.json")
    data = json.load(open(config))
    data["keep_daily"] = "seven"
    open(config, "w").write(json.dumps(data))
    proc = run_job(variables)
    assert proc.returncode == 1
    assert "keep_daily='seven' is not a int" in proc.stderr


@pytest.mark.parametrize("name,value,needle", [
    ("convex_backup_keep_daily", -1, "convex_backup_keep_daily=-1"),
    ("convex_backup_schedule_hour", 24, "convex_backup_schedule_hour=24"),
    ("convex_backup_url", "http://127.0.0.1:3210/api", "convex_backup_url=\"http://127.0.0.1:3210/api\""),
    ("convex_backup_install_dir", "relative/dir", "convex_backup_install_dir=\"relative/dir\""),
    ("convex_backup_python", "/nonexistent/python3", "convex_backup_python=\"/nonexistent/python3\" cannot run"),
])
def test_bad_input_fails_before_any_change(run_playbook, tmp_path, source, name, value, needle):
    variables = dict(contract(tmp_path, source), **{name: value})
    play = INSTALL_PLAY.replace("tasks_from: install.yml", "tasks_from: main.yml")
    run = run_playbook(play, variables, check=True)
    assert run.rc != 0
    assert needle in run.output
    assert not os.path.exists(variables["convex_backup_dir"])


# ---------------------------------------------------------------- the job's interpreter
# The schedule runs the job with the system Python, isolated (-I) and without site-packages (-S),
# never with the Python Ansible runs from (on the Mac, the checkout's venv: the job would break when
# the checkout moves, and it would import whatever that venv holds). On macOS /usr/bin/python3 is the
# Command Line Tools' Python, 3.9.6 in current CLT releases (guessed from public reports, not read from
# Apple: listed in the role README to check on the Mac): the job and the code it copies must run on 3.9.
# Variables come from inventory files, as users set them.
PY39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python3.9")

RENDER_PLAY = """
- hosts: localhost
  gather_facts: true
  tasks:
    - name: Install the backup job as the role does, keeping the role's variables.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: install.yml
        public: true
    - name: Render the systemd unit and the LaunchAgent as the role does.
      ansible.builtin.template:
        src: "{{ item.src }}"
        dest: "{{ item.dest }}"
        mode: "0600"
      loop:
        - {src: "%(templates)s/convex-backup.service.j2", dest: "%(out)s/job.service"}
        - {src: "%(templates)s/convex-backup.plist.j2", dest: "%(out)s/job.plist"}
"""


def render_schedule(run_playbook, tmp_path, standin):
    variables = contract(tmp_path, standin)
    os.makedirs(variables["convex_state_dir"], mode=0o700)
    with open(variables["convex_admin_key_env_file"], "w") as handle:
        handle.write("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (standin.url, standin.admin_key()))
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "localhost.yml").write_text(json.dumps(variables))
    out = tmp_path / "rendered"
    out.mkdir()
    play = RENDER_PLAY % {"templates": ROOT / "roles" / "convex_backup" / "templates", "out": out}
    run = run_playbook(play, {}, check=False)
    assert run.rc == 0, run.output
    exec_start = [line.split("=", 1)[1] for line in (out / "job.service").read_text().splitlines()
                  if line.startswith("ExecStart=")]
    with open(out / "job.plist", "rb") as handle:
        program = plistlib.load(handle)["ProgramArguments"]
    # systemd.service(5) "Command lines": the template double-quotes each word (escaping); shlex reads
    # that subset of the syntax the same way.
    return variables, shlex.split(exec_start[0]), program


def test_schedule_runs_the_system_python_isolated_without_site(run_playbook, tmp_path, source):
    _variables, exec_start, program = render_schedule(run_playbook, tmp_path, source)
    for argv in (exec_start, program):
        assert argv[0] == "/usr/bin/python3", argv
        assert argv[1:3] == ["-I", "-S"], argv
        # Nothing the job runs points into the checkout or the venv Ansible runs from.
        for arg in argv:
            assert not arg.startswith(str(ROOT)) and not arg.startswith(sys.prefix), arg


@pytest.mark.skipif(not os.path.exists(PY39), reason="needs a Python 3.9 (pyenv 3.9.18)")
def test_job_runs_on_python_3_9_as_scheduled(run_playbook, tmp_path, source):
    variables, exec_start, _program = render_schedule(run_playbook, tmp_path, source)
    proc = subprocess.run([PY39] + exec_start[1:], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "121 documents in 2 tables, 2 environment variables" in proc.stderr
    assert [n for n in os.listdir(variables["convex_backup_dir"]) if n.endswith(".manifest.json")]


# Runs a job file as __main__ in a python3 -I -S without Ansible, then prints the Ansible modules the
# run left in sys.modules: the old job faked ansible.module_utils.urls (an import shim) so that the
# copied client could import open_url; now nothing named ansible may be imported at all.
ANSIBLE_MODULES_AFTER_RUN = """
import json, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"rc": code, "ansible": sorted(m for m in sys.modules if m.split(".")[0] == "ansible")}))
"""


def lay_out_job(role, job, dest):
    """The job and the module_utils its install.yml copies, in the layout install.yml writes."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "install.yml").read_text())
    names = next(t["loop"] for t in tasks if "plugins/module_utils/" in str(t.get("ansible.builtin.copy", {}).get("src")))
    if isinstance(names, str):  # "{{ __name }}": the list is in the role's vars/main.yml
        role_vars = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text())
        names = role_vars[names.strip("{} ")]
    assert names and all(name.endswith(".py") for name in names), names
    lib = dest / "lib" / "ansible_collections" / "joelclaw" / "macmini" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in names:
        shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
    shutil.copy(ROOT / "roles" / role / "files" / job, dest / job)
    return dest / job


def test_job_imports_nothing_from_ansible(tmp_path, source):
    job = lay_out_job("convex_backup", "convex_backup_job.py", tmp_path / "job")
    key_file = tmp_path / "convex-admin.env"
    key_file.write_text("CONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % source.admin_key())
    (tmp_path / "backups").mkdir()
    (tmp_path / "job" / "config.json").write_text(json.dumps({
        "url": source.url, "admin_key_env_file": str(key_file), "backup_dir": str(tmp_path / "backups"),
        "include_storage": False, "keep_daily": 1, "keep_weekly": 0, "timeout": 60, "request_timeout": 10,
        "validate_certs": True, "ca_path": None, "backend_image": None, "instance_name": "joelclaw", "offsite": None}))
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", ANSIBLE_MODULES_AFTER_RUN, str(job),
                           "--config", str(tmp_path / "job" / "config.json")],
                          capture_output=True, text=True, timeout=120, check=False)
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {"rc": 0, "ansible": []}, proc.stderr
    assert [n for n in os.listdir(tmp_path / "backups") if n.endswith(".manifest.json")]


def test_job_files_parse_as_python_3_9():
    # Where no 3.9 runs: Python 3.9's grammar rejects match statements and parenthesized context
    # managers (ast.parse feature_version, https://docs.python.org/3/library/ast.html#ast.parse).
    import ast
    files = [ROOT / "roles" / "convex_backup" / "files" / "convex_backup_job.py"]
    files += [ROOT / "plugins" / "module_utils" / name
              for name in ("_convex_client.py", "_convex_env_file.py", "_convex_snapshot.py", "_convex_backup.py")]
    for path in files:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
