# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The convex_health_schedule role with variables from inventory files (the repository's group_vars,
a host_vars file): its validation, its install (real files under tmp, twice: changed=0), its systemd
units checked by systemd-analyze verify and its LaunchAgent parsed with plistlib, and the installed job
run by /usr/bin/python3 -I -S (no Ansible) until an event reaches a receiver on loopback.

This host has no systemd as PID 1 and no launchd, so the schedule tasks themselves (systemd_service,
launchd) are not run here: the unit files and plist are rendered from the role's templates.
"""
from __future__ import annotations

import json
import os
import plistlib
import shutil
import stat
import subprocess

import pytest

from playbook_runner import ROOT, ansible_playbook_with_inventory, assert_no_leak, write_inventory
from test_convex_health_schedule_job import EVENT_KEY, Receiver

SYSTEM_PYTHON = "/usr/bin/python3"
TEMPLATES = ROOT / "roles" / "convex_health_schedule" / "templates"

PLAY = """
- name: Install the health job as the role does and render its schedule.
  hosts: macmini
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Validate and install.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_health_schedule
        tasks_from: "{{ item }}"
        public: true
      loop: [validate.yml, install.yml]
    - name: Render the schedule files the setup tasks would write.
      ansible.builtin.template:
        src: "%(templates)s/{{ item.src }}"
        dest: "{{ render_dir }}/{{ item.dest }}"
        mode: "0644"
      loop:
        - {src: convex-health.service.j2, dest: "{{ convex_health_schedule_unit_name }}.service"}
        - {src: convex-health.timer.j2, dest: "{{ convex_health_schedule_unit_name }}.timer"}
        - {src: convex-health.plist.j2, dest: "{{ convex_health_schedule_launchd_label }}.plist"}
""" % {"templates": TEMPLATES}


def converge(tmp_path, host_vars, check=False, verbosity=0):
    inventory = write_inventory(tmp_path, host_vars)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    return ansible_playbook_with_inventory(tmp_path / "run", playbook, inventory, check=check, verbosity=verbosity)


def host_vars(tmp_path, receiver_url, **changes):
    state = tmp_path / "state"
    values = {
        "convex_state_dir": str(state),
        "render_dir": str(tmp_path / "render"),
        # Nothing listens there: the backend probes fail, so the first run alerts.
        "convex_published_ports": {"api": {"host_port": 9, "node_port": 30010}},
        "convex_health_schedule_site_url": "",
        "convex_health_schedule_dashboard_url": "",
        "convex_health_schedule_backup_dir": "",
        "convex_health_schedule_interval_minutes": 7,
        "convex_health_schedule_timeout": 3,
        "convex_health_schedule_inngest_url": receiver_url,
        "convex_health_schedule_inngest_event_key": EVENT_KEY,
        "convex_health_schedule_send_attempts": 1,
    }
    values.update(changes)
    return values


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="needs /usr/bin/python3")
def test_install_renders_verifies_is_idempotent_and_the_job_alerts_without_ansible(tmp_path, receiver):
    (tmp_path / "render").mkdir()
    variables = host_vars(tmp_path, receiver.url)
    # At -vvv: the leak check of the role (issue 16), module arguments and results in full.
    first = converge(tmp_path, variables, verbosity=3)
    assert first.rc == 0, first.output
    second = converge(tmp_path, variables, verbosity=3)
    assert second.rc == 0, second.output
    assert second.recap(host="joelclaw-mini")["changed"] == 0, second.output
    for run in (first, second):
        assert_no_leak(run, {"Inngest event key": EVENT_KEY})

    install = tmp_path / "state" / "health-job"
    assert stat.S_IMODE(os.stat(install).st_mode) == 0o700
    lib = install / "lib" / "ansible_collections" / "joelclaw" / "macmini" / "plugins" / "module_utils"
    for name in ("config.json", "inngest-event-key", lib / "_convex_health.py"):
        assert stat.S_IMODE(os.stat(install / name).st_mode) == 0o600, name
    for name in ("_convex_health.py", "_convex_client.py", "_convex_env_file.py"):
        assert (lib / name).read_bytes() == (ROOT / "plugins" / "module_utils" / name).read_bytes()
    # The install tasks copy only what differs from what is there (issue #13): an edited copy of the
    # collection's code, a loosened config mode and a loosened job directory are each put back, and reported.
    (lib / "_convex_client.py").write_bytes((lib / "_convex_client.py").read_bytes() + b"# edited by hand\n")
    (install / "config.json").chmod(0o644)
    install.chmod(0o755)
    third = converge(tmp_path, variables)
    assert third.rc == 0, third.output
    assert third.recap(host="joelclaw-mini")["changed"] == 3, third.output  # directories, code copies, config
    assert (lib / "_convex_client.py").read_bytes() == (ROOT / "plugins" / "module_utils" / "_convex_client.py").read_bytes()
    assert stat.S_IMODE(os.stat(install / "config.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(install).st_mode) == 0o700

    config = json.loads((install / "config.json").read_text())
    assert config["url"] == "http://127.0.0.1:9" and config["tls_hosts"] == []
    assert EVENT_KEY not in (install / "config.json").read_text()

    render = tmp_path / "render"
    plist = plistlib.loads((render / "com.joelclaw.convex-health.plist").read_bytes())
    assert plist["StartInterval"] == 7 * 60 and plist["RunAtLoad"] is True
    assert plist["ProgramArguments"] == [SYSTEM_PYTHON, "-I", "-S", str(install / "convex_health_job.py"),
                                         "--config", str(install / "config.json")]
    timer = (render / "joelclaw-convex-health.timer").read_text()
    assert "OnUnitActiveSec=7min" in timer
    if shutil.which("systemd-analyze"):
        units = [str(render / "joelclaw-convex-health.service"), str(render / "joelclaw-convex-health.timer")]
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                                check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    # The installed job, as the timer runs it: no Ansible, no venv.
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(install / "convex_health_job.py"),
                           "--config", str(install / "config.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "FAIL (backend_version" in proc.stderr
    assert [p for p, _c, _b in receiver.received] == ["/e/" + EVENT_KEY]
    event = json.loads(receiver.received[0][2])
    assert event["name"] == "joelclaw/convex.health" and event["data"]["verdict"] == "fail"
    assert EVENT_KEY not in proc.stderr
    report = tmp_path / "state" / "health" / "report.json"
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600


@pytest.mark.parametrize("changes, message", [
    ({"convex_health_schedule_inngest_url": "inngest.example.ts.net:8288"}, "origin with its scheme"),
    ({"convex_health_schedule_interval_minutes": 0}, "from 1 to 1440"),
    ({"convex_health_schedule_webhook_url": "hooks.example/abc"}, "convex_health_schedule_webhook_url: expected"),
    # install.yml's one read runs the job's Python as the timer does (-I -S), before the first change.
    ({"convex_health_schedule_python": "/nonexistent/python3"},
     'convex_health_schedule_python="/nonexistent/python3" cannot run the health job'),
])
def test_bad_input_fails_before_any_change(tmp_path, changes, message):
    variables = host_vars(tmp_path, "http://127.0.0.1:9", **changes)
    run = converge(tmp_path, variables)
    assert run.rc != 0
    assert message in run.output, run.output
    assert "Traceback" not in run.output
    assert not (tmp_path / "state").exists()
    assert EVENT_KEY not in run.output
