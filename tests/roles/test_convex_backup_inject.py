# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile values never reach the backup job's LaunchAgent plist or its systemd units (issue 16, finding 5).

One ansible-playbook run, one inventory host per case (values in host_vars, as users set them):
- each hostile host runs the role's validation, then its install, then renders the three templates: the
  validation must stop it with the variable named before the install directory or any unit exists;
- a legitimate host (paths with spaces and '&') passes and gets correctly escaped files;
- a "raw" host renders the templates with hostile values and no validation: the templates alone must hold.

The files are then read by real parsers: Python's plistlib for the plist (the format launchd reads, Apple's
PropertyList-1.0 DTD) and systemd 252's own `systemd-analyze verify` for the units. Quoting rules:
systemd.syntax(7) "Quoting" (double-quoted words, C escapes, a trailing backslash merges lines),
systemd.service(5) "Command lines" (control characters not allowed in the command, `$$` for a literal `$`),
systemd.unit(5) "Specifiers" (`%%` for a literal `%`).
"""
from __future__ import annotations

import json
import os
import plistlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook_with_inventory, failure_of

GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
INJECT = "\nExecStartPre=/bin/sh -c 'touch /pwned'"
XML = "</string><string>/bin/sh"

# host -> (variables, the variables the refusal must name). Each check loops over its variables and reports
# every bad one, so one host carries one kind of hostile value in every variable of a check.
PATHS = ("convex_backup_python", "convex_backup_install_dir", "convex_backup_log_file", "convex_admin_key_env_file")
NAMES = ("convex_backup_launchd_label", "convex_backup_unit_name", "convex_backup_user", "convex_instance_name",
         "convex_backup_on_calendar")


def every(names, value):
    return {name: value for name in names}


HOSTILE = {
    "paths_newline": (every(PATHS, "{state}/x" + INJECT), PATHS),
    "paths_xml": (every(PATHS, "{state}/x" + XML), PATHS),
    "paths_quote": (every(PATHS, '{state}/x" --config "/tmp/evil.json'), PATHS),
    "paths_specifier": (every(PATHS, "{state}/%h/x"), PATHS),
    "names_newline": (every(NAMES, "joelclaw" + INJECT), NAMES),
    "names_xml": (every(NAMES, "joelclaw" + XML), NAMES),
    "names_specifier": (every(NAMES, "%u"), NAMES),
    "names_path": (every(NAMES[:2], "../../../etc/cron.d/x"), NAMES[:2]),
    "calendar_invalid": ({"convex_backup_on_calendar": "every day at three"}, ("convex_backup_on_calendar",)),
    "url_newline": ({"convex_backup_url": "http://127.0.0.1:3210\n"}, ("convex_backup_url",)),
    "url_quote": ({"convex_backup_url": 'http://127.0.0.1:3210"x'}, ("convex_backup_url",)),
    "ca_path_newline": ({"convex_backup_ca_path": "/etc/ssl/ca.pem\nx"}, ("convex_backup_ca_path",)),
}

# Legitimate values with characters that need escaping: spaces (quoted in the unit) and '&' (XML in the plist).
LEGIT = {
    "convex_backup_install_dir": "{state}/Application Support & Co/backup-job",
    "convex_backup_log_file": "{state}/Library/Logs & more/joelclaw backup.log",
    "convex_backup_python": "{state}/py bin/python3",
}

# Past the checks: what the templates alone must keep as one value each.
RAW = {
    # systemd refuses control characters, quotes and $ in the command itself (systemd.service(5); systemd 252
    # "Executable name contains special characters"): the newline, quotes and $ go in the arguments.
    "convex_backup_python": "/opt/py 3 & <y> %h" + XML + "/python3",
    "convex_backup_install_dir": '/srv/a "b" & <c>\\' + XML + INJECT + " %h $HOME",
    "convex_backup_log_file": "/srv/log" + XML + "\n",
    "convex_backup_launchd_label": "com.joelclaw" + XML,
    "convex_backup_user": "joel" + INJECT,
    "convex_backup_unit_name": "joelclaw-backup" + INJECT,
    "convex_backup_on_calendar": "daily\\" + "\nUnit=evil.service",
    "convex_instance_name": "joelclaw %h\\" + INJECT,
    # Without the role's validation its defaults are not loaded: the rest of what the templates read.
    "convex_backup_timeout": 1800, "convex_backup_schedule_hour": 3, "convex_backup_schedule_minute": 30,
    # The LaunchDaemon (the default domain); its HOME comes from roles/convex_backup/vars/main.yml: /Users/<user>.
    "convex_backup_launchd_domain": "system",
}

PLAY = """
- name: Validate, install and render the backup job's files as the role does, one host per case.
  hosts: all
  gather_facts: true
  gather_subset: [min]
  vars:
    out: "{{ convex_state_dir }}/rendered"
  tasks:
    - name: Validate as the role does first (systemd parses the OnCalendar expressions at the end of drill_validate.yml).
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: "{{ item }}"
        public: true  # the role's defaults, for the templates below
      loop: [validate.yml, drill_validate.yml]
      when: not (raw | default(false))
    - name: Install as the role does next.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: install.yml
      when: not (raw | default(false))
    - name: Render the unit files where the test reads them.
      ansible.builtin.file:
        path: "{{ out }}"
        state: directory
        mode: "0700"
    - name: Render the role's templates.
      ansible.builtin.template:
        src: "{{ root }}/roles/convex_backup/templates/{{ item }}.j2"
        dest: "{{ out }}/{{ item }}"
        mode: "0600"
      loop: [convex-backup.plist, convex-backup.service, convex-backup.timer]
"""


def host_vars(base: Path, name: str, overrides: dict) -> dict:
    state = base / name / "state"
    variables = {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "root": str(ROOT),
        "convex_state_dir": str(state),
        "convex_backup_dir": str(state / "backups"),
        "convex_admin_key_env_file": str(state / "convex-admin.env"),
        "convex_backup_log_file": str(state / "Library" / "Logs" / "joelclaw-convex-backup.log"),
    }
    for key, value in overrides.items():
        variables[key] = value.replace("{state}", str(state)) if isinstance(value, str) else value
    return variables


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    base = tmp_path_factory.mktemp("backup-inject")
    hosts = {name: host_vars(base, name, values) for name, (values, _needle) in HOSTILE.items()}
    hosts["legit"] = host_vars(base, "legit", LEGIT)
    python = Path(hosts["legit"]["convex_backup_python"])
    python.parent.mkdir(parents=True)
    python.symlink_to("/usr/bin/python3")
    hosts["raw"] = host_vars(base, "raw", dict(RAW, raw=True))
    inventory = base / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"hosts": {name: None for name in hosts}}}))
    for name, variables in hosts.items():
        (inventory / "host_vars" / (name + ".yml")).write_text(json.dumps(variables))
    playbook = base / "play.yml"
    playbook.write_text(PLAY)
    run = ansible_playbook_with_inventory(base / "run", playbook, inventory)
    return base, hosts, run


@pytest.mark.parametrize("host", sorted(HOSTILE))
def test_hostile_values_are_refused_before_any_change(converged, host):
    base, hosts, run = converged
    message = failure_of(run, host)
    for name in HOSTILE[host][1]:
        assert name + "=" in message, message
    assert "Traceback" not in run.output
    state = Path(hosts[host]["convex_state_dir"])
    install_dir = Path(hosts[host].get("convex_backup_install_dir", state / "backup-job"))
    assert not install_dir.exists() and not (state / "backups").exists() and not (state / "rendered").exists(), \
        sorted(str(p) for p in (base / host).rglob("*"))


def test_the_role_validates_before_anything_else():
    tasks = yaml.safe_load((ROOT / "roles" / "convex_backup" / "tasks" / "main.yml").read_text())
    assert tasks[0].get("ansible.builtin.import_tasks") == "validate.yml", tasks[0]


def test_legitimate_paths_with_spaces_pass_and_are_escaped(converged):
    _base, hosts, run = converged
    assert "fatal: [legit]" not in run.stdout, run.output
    legit = hosts["legit"]
    out = Path(legit["convex_state_dir"]) / "rendered"
    plist = plistlib.loads((out / "convex-backup.plist").read_bytes())
    install = legit["convex_backup_install_dir"]
    assert plist["ProgramArguments"] == [legit["convex_backup_python"], "-I", "-S", install + "/convex_backup_job.py",
                                         "--config", install + "/config.json"]
    assert plist["StandardOutPath"] == plist["StandardErrorPath"] == legit["convex_backup_log_file"]
    assert plist["Label"] == "com.joelclaw.convex-backup"
    argv = exec_start_argv(out / "convex-backup.service")
    assert argv in (None, dumped([legit["convex_backup_python"], "-I", "-S", install + "/convex_backup_job.py",
                                  "--config", install + "/config.json"])), argv
    # The job runs as scheduled, from the quoted command line, and reads the config in the spaced directory.
    assert Path(install, "config.json").is_file()


def test_the_templates_alone_keep_every_hostile_value_one_value(converged):
    _base, hosts, run = converged
    assert "fatal: [raw]" not in run.stdout, run.output
    raw = hosts["raw"]
    out = Path(raw["convex_state_dir"]) / "rendered"
    plist = plistlib.loads((out / "convex-backup.plist").read_bytes())
    install = raw["convex_backup_install_dir"]
    assert plist["Label"] == raw["convex_backup_launchd_label"]
    assert plist["ProgramArguments"] == [raw["convex_backup_python"], "-I", "-S", install + "/convex_backup_job.py",
                                         "--config", install + "/config.json"]
    assert plist["StandardOutPath"] == raw["convex_backup_log_file"]
    assert plist["UserName"] == raw["convex_backup_user"]
    assert plist["EnvironmentVariables"] == {"HOME": "/Users/" + raw["convex_backup_user"]}
    for name in ("convex-backup.service", "convex-backup.timer"):
        unit = (out / name).read_text()
        keys = [line.split("=", 1)[0] for line in unit.splitlines() if line and not line.startswith(("#", "["))]
        assert "ExecStartPre" not in keys, unit
        assert len(keys) == len(set(keys)), unit  # no directive added twice (Unit= of the timer, for one)
        assert not any(line.endswith("\\") for line in unit.splitlines()), unit  # no line merged into the next
    # systemd's own parser: the hostile user stays one (invalid) user name, so systemd refuses the whole unit...
    service = out / "convex-backup.service"
    text = analyze(service)
    if text is not None:
        assert "Invalid user/group name or numeric ID: joel\\nExecStartPre=/bin/sh -c 'touch /pwned'" in text, text
    # ...and with a valid user in its place: one command, each hostile path one argument with its %, $, quotes
    # and newline literal.
    patched = out / "patched.service"
    patched.write_text(re.sub(r"(?m)^User=.*$", "User=root", service.read_text()))
    argv = exec_start_argv(patched)
    if argv is not None:
        # (systemd's dump re-quotes $ and backslashes its own way: compared by shape and content.)
        assert len(argv) == 6 and argv[0] == raw["convex_backup_python"] and argv[1:3] == ["-I", "-S"], argv
        assert argv[4] == "--config" and argv[3].endswith("/convex_backup_job.py"), argv
        for arg in (argv[3], argv[5]):
            assert arg.startswith('/srv/a "b" & <c>') and "\\nExecStartPre=/bin/sh -c 'touch /pwned' %h " in arg, arg


def analyze(unit: Path):
    """systemd-analyze verify's debug output for the unit (its own parser and the loaded unit's dump), or
    None where systemd-analyze is not installed."""
    if not shutil.which("systemd-analyze"):
        return None
    copy = unit.parent / "verify" / "joelclaw-backup-test.service"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(unit, copy)
    dump = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(os.environ, SYSTEMD_LOG_LEVEL="debug"))
    return dump.stdout + dump.stderr


def exec_start_argv(unit: Path):
    """The ExecStart argv as systemd itself parses it, or None where systemd-analyze is not installed.
    Checks there is no other Exec* command."""
    text = analyze(unit)
    if text is None:
        return None
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("-> Exec")]
    assert commands == ["-> ExecStart:"], text
    command_lines = [line.strip() for line in text.splitlines() if line.strip().startswith("Command Line: ")]
    assert len(command_lines) == 1, text
    return shlex.split(command_lines[0][len("Command Line: "):])


def dumped(argv):
    """argv as systemd's dump prints it: % specifiers resolved at load, $ kept doubled until exec time
    (systemd.service(5): `$$` is a literal `$`), a newline shown as the two characters \\n."""
    return [arg.replace("$", "$$").replace("\n", "\\n") for arg in argv]
