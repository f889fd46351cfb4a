# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The convex_backup role's monthly restore drill (tasks/drill-*.yml), with variables from the inventory:
its validation, its install (real files under tmp), its systemd service and timer checked by systemd 252's
own `systemd-analyze verify`, its LaunchDaemon parsed with plistlib; then the service's ExecStart, run as
systemd would start it (the system Python, -I -S, no Ansible in it), runs playbooks/restore-drill.yml
against the REAL kube-apiserver and the two Convex TEST STAND-INs of test_restore_drill.py (its fixtures,
no other converge), and the scheduled health job (roles/convex_health_schedule, installed in the same
play) reads the result: ok after a good drill, fail after a drill that could not reach the cluster.

This host has no systemd as PID 1 and no launchd: the schedule tasks themselves (systemd_service, launchd)
are not run here, as in test_convex_health_schedule_role.py.
"""
from __future__ import annotations

import getpass
import json
import os
import plistlib
import shlex
import shutil
import stat
import subprocess

import pytest

from k8s_harness import control_plane, kube  # noqa: F401  pylint: disable=unused-import
from playbook_runner import ROOT, ansible_playbook_hosts, failure_of, host_name
from test_restore_drill import (  # noqa: F401  pylint: disable=unused-import
    ENV, drill_backend, live, live_cluster, project, versions)

SYSTEM_PYTHON = "/usr/bin/python3"
TEMPLATES = ROOT / "roles" / "convex_backup" / "templates"

PLAY = """
- name: Install the monthly drill as the role does and render its schedule; install the scheduled health job.
  hosts: macmini
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Validate and install the drill's runner.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: "{{ item }}"
        public: true
      loop: [validate.yml, drill_validate.yml, drill_install.yml]
    - name: Render the schedule files drill_schedule.yml would write.
      ansible.builtin.template:
        src: "%(templates)s/{{ item.src }}"
        dest: "{{ playbook_dir }}/render/{{ item.dest }}"
        mode: "0644"
      loop:
        - {src: convex-restore-drill.service.j2, dest: "{{ convex_backup_drill_unit_name }}.service"}
        - {src: convex-restore-drill.timer.j2, dest: "{{ convex_backup_drill_unit_name }}.timer"}
        - {src: convex-restore-drill.plist.j2, dest: "{{ convex_backup_drill_launchd_label }}.plist"}
    - name: Install the scheduled health job.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_health_schedule
        tasks_from: "{{ item }}"
      loop: [validate.yml, install.yml]
""" % {"templates": TEMPLATES}


def run_health(state):
    install = state / "health-job"
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", str(install / "convex_health_job.py"), "--config",
                           str(install / "config.json")], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((state / "health" / "report.json").read_text())
    return report, {p["name"]: p for p in report["probes"]}


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="needs /usr/bin/python3")
def test_the_scheduled_drill_runs_the_playbook_records_its_result_and_health_reads_it(
        project, live_cluster, live, drill_backend, tmp_path):
    state = tmp_path / "state"
    (state / "convex-admin.env").write_text("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n"
                                            % (live.url, live.admin_key()))
    project.host_vars.update({
        "convex_health_schedule_url": live.url,
        "convex_health_schedule_site_url": "",
        "convex_health_schedule_dashboard_url": "",
        "convex_health_schedule_timeout": 3,
    })
    project.write_host_vars()
    (project.base / "render").mkdir()
    (project.base / "schedule.yml").write_text(PLAY)
    first = project.playbook("schedule.yml")
    assert first.rc == 0, first.output
    second = project.playbook("schedule.yml")
    assert second.rc == 0 and second.recap()["changed"] == 0, second.output

    install = state / "backup-job"
    config = json.loads((install / "drill-config.json").read_text())
    assert stat.S_IMODE(os.stat(install / "drill-config.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(install / "convex_restore_drill_job.py").st_mode) == 0o700
    inventory = str(project.base / "inventory" / "hosts.yml")
    assert config["argv"][1:] == ["-i", inventory, "--limit", "localhost", config["argv"][-1]]
    assert os.path.realpath(config["argv"][-1]) == str(ROOT / "playbooks" / "restore-drill.yml")
    # The file the drill writes is the one both health reports read.
    health_config = json.loads((state / "health-job" / "config.json").read_text())
    assert config["result_file"] == health_config["restore_drill_file"] == str(state / "restore-drill.json")

    render = project.base / "render"
    timer = (render / "joelclaw-convex-restore-drill.timer").read_text()
    assert "OnCalendar=*-*-01 04:30:00\n" in timer
    plist = plistlib.loads((render / "com.joelclaw.convex-restore-drill.plist").read_bytes())
    assert plist["UserName"] == getpass.getuser() and plist["RunAtLoad"] is False
    assert plist["StartCalendarInterval"] == {"Day": 1, "Hour": 4, "Minute": 30}
    assert plist["ProgramArguments"] == [SYSTEM_PYTHON, "-I", "-S", str(install / "convex_restore_drill_job.py"),
                                         "--config", str(install / "drill-config.json")]
    service = render / "joelclaw-convex-restore-drill.service"
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(service),
                                 str(render / "joelclaw-convex-restore-drill.timer")],
                                capture_output=True, text=True, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    exec_start = shlex.split([line.split("=", 1)[1] for line in service.read_text().splitlines()
                              if line.startswith("ExecStart=")][0])
    assert exec_start == plist["ProgramArguments"]

    # The job as the timer starts it: an empty environment (the runner sets its own), no Ansible in it.
    before = versions(live_cluster)
    proc = subprocess.run(exec_start, env={}, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RTO (start to verified): " in proc.stdout and "restore drill passed" in proc.stderr
    record = json.loads((state / "restore-drill.json").read_text())
    assert record["ok"] is True and record["documents"] == 8
    assert sorted(drill_backend.state.tables) == ["messages", "users"] and sorted(drill_backend.state.env) == sorted(ENV)
    assert versions(live_cluster) == before
    assert ENV["RESEND_API_KEY"] not in proc.stdout + proc.stderr
    report, probes = run_health(state)
    assert probes["restore_drill"]["status"] == "ok", probes["restore_drill"]
    assert report["verdict"] == "ok", report
    print("scheduled drill RTO on the test rig: %ss" % record["rto_seconds"])

    # Next month the cluster is unreachable: the playbook stops before the drill module records anything;
    # the runner records the failure, and health turns to fail, naming where to look.
    project.host_vars["convex_kubeconfig"] = str(tmp_path / "no-such-kubeconfig")
    project.write_host_vars()
    proc = subprocess.run(exec_start, env={}, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode != 0
    record = json.loads((state / "restore-drill.json").read_text())
    assert record["ok"] is False and "before it recorded a result" in record["problems"][0]
    assert stat.S_IMODE(os.stat(state / "restore-drill.json").st_mode) == 0o600
    report, probes = run_health(state)
    assert probes["restore_drill"]["status"] == "fail" and report["verdict"] == "fail", report
    assert "journalctl -u joelclaw-convex-restore-drill.service" in probes["restore_drill"]["hint"]


BAD_PLAY = """
- name: Validate and install the drill's runner as the role does.
  hosts: macmini
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: The role's checks, then its install (which first reads and checks the drill's tools).
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: "{{ item }}"
      loop: [validate.yml, drill_validate.yml, install.yml, drill_install.yml]
"""


BAD_INPUT = {
    "schedule day 29": ({"convex_backup_drill_schedule_day": 29}, "convex_backup_drill_schedule_day=29"),
    "schedule hour 24": ({"convex_backup_drill_schedule_hour": 24}, "convex_backup_drill_schedule_hour=24"),
    "inventory with a newline": (
        {"convex_backup_drill_inventory": ["/tmp/inv\nExecStartPre=/bin/touch /tmp/pwned"]},
        "convex_backup_drill_inventory=[\"/tmp/inv\\nExecStartPre=/bin/touch /tmp/pwned\"]"),
    "on calendar with a newline": ({"convex_backup_drill_on_calendar": "monthly\nExecStartPre=/bin/true"},
                                   "convex_backup_drill_on_calendar="),
    # Past the regex, refused by systemd-analyze calendar (one call with the backup's expression, which is fine).
    "on calendar systemd refuses": ({"convex_backup_drill_on_calendar": "monthly at noon"},
                                    'convex_backup_drill_on_calendar="monthly at noon": systemd-analyze calendar refused'),
    # install.yml's one read is also the check that what the drill runs is there, before the first change.
    "drill playbook missing": ({"convex_backup_drill_playbook": "/nonexistent/restore-drill.yml"},
                               'and missing: ["/nonexistent/restore-drill.yml"]'),
    # The same read runs the job's Python as the timer does (-I -S) and refuses one that cannot run the job.
    "job python missing": ({"convex_backup_python": "/nonexistent/python3"},
                           'convex_backup_python="/nonexistent/python3" cannot run the backup job'),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """Every bad-input case as one inventory host of one run (its values and its own state dir in its
    host_vars, as users set them); each host runs the play on its own."""
    base = tmp_path_factory.mktemp("drill-refused")
    hosts = {host_name(case): dict({"convex_state_dir": str(base / host_name(case) / "state")}, **changes)
             for case, (changes, _needle) in BAD_INPUT.items()}
    assert len(hosts) == len(BAD_INPUT)
    return base, ansible_playbook_hosts(base / "run", BAD_PLAY.replace("hosts: macmini", "hosts: all"), hosts)


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_before_any_change(refused, case):
    base, run = refused
    host = host_name(case)
    _changes, needle = BAD_INPUT[case]
    assert needle in failure_of(run, host), run.output
    recap = run.recap(host)
    assert recap["failed"] == 1 and recap["changed"] == 0, run.output
    assert "Traceback" not in run.output
    assert not (base / host / "state").exists()
