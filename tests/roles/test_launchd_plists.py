# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launchd plists of convex_backup, convex_health_schedule and caddy_tailscale as the roles render them.

One real ansible-playbook run renders each role's template with its defaults and vars (in the inventory's
group_vars, below host_vars as role defaults are) and the repository's group_vars, in both launchd domains;
the files are parsed with plistlib, as launchd reads them. The host_vars carry '&' and '<' in the user name and
paths: the templates escape them, so each stays one string. launchd itself does not run on this Linux host:
the tasks around the templates (bootstrap/bootout in the system domain) are listed in the role READMEs under
what to check on the Mac; colima_talos' daemon runs its whole task flow in tests/roles/test_colima_talos_flow.py.
"""
from __future__ import annotations

import plistlib
import sys

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook_with_inventory

ODD = "a&b<c"
RENDERS = {
    # (role, template, launchd domain) -> file name
    "backup-system": ("convex_backup", "convex-backup.plist.j2", "convex_backup_launchd_domain", "system"),
    "backup-user": ("convex_backup", "convex-backup.plist.j2", "convex_backup_launchd_domain", "user"),
    "health-system": ("convex_health_schedule", "convex-health.plist.j2", "convex_health_schedule_launchd_domain",
                      "system"),
    "health-user": ("convex_health_schedule", "convex-health.plist.j2", "convex_health_schedule_launchd_domain", "user"),
    "caddy-system": ("caddy_tailscale", "caddy.plist.j2", "caddy_tailscale_launchd_domain", "system"),
}


@pytest.fixture(scope="module")
def plists(tmp_path_factory):
    base = tmp_path_factory.mktemp("plists")
    inventory = base / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"macmini": {"hosts": {"mac": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    (inventory / "group_vars" / "all" / "main.yml").write_text((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    for role in ("convex_backup", "convex_health_schedule", "caddy_tailscale"):
        (inventory / "group_vars" / "all" / (role + "-defaults.yml")).write_text(
            (ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    (inventory / "group_vars" / "all" / "backup-vars.yml").write_text(
        (ROOT / "roles" / "convex_backup" / "vars" / "main.yml").read_text())
    (inventory / "group_vars" / "all" / "health-vars.yml").write_text(
        (ROOT / "roles" / "convex_health_schedule" / "vars" / "main.yml").read_text())
    (inventory / "group_vars" / "all" / "caddy-vars.yml").write_text(
        (ROOT / "roles" / "caddy_tailscale" / "vars" / "main.yml").read_text())
    (inventory / "host_vars" / "mac.yml").write_text(yaml.safe_dump({
        "convex_backup_user": "joel", "convex_health_schedule_user": "joel",
        "convex_backup_install_dir": "/Users/joel/.joelclaw/backup " + ODD,
        "convex_health_schedule_install_dir": "/Users/joel/.joelclaw/health " + ODD,
        "caddy_tailscale_caddyfile": "/opt/homebrew/etc/Caddy " + ODD,
        "caddy_tailscale_homebrew_prefix": "/opt/homebrew",
        "caddy_tailscale_owner": "joel",
        # The role's macOS column (vars/main.yml picks the column by the system fact; this host is Linux).
        "__caddy_tailscale_os": "{{ __caddy_tailscale_os_defaults.Darwin }}",
    }))
    tasks = [{"name": "Render %s." % name, "ansible.builtin.template": {
        "src": str(ROOT / "roles" / role / "templates" / template), "dest": str(base / (name + ".plist")),
        "mode": "0644"}, "vars": {variable: domain}}
        for name, (role, template, variable, domain) in RENDERS.items()]
    play = base / "play.yml"
    play.write_text(yaml.safe_dump([{"name": "Render the plists.", "hosts": "macmini", "gather_facts": True,
                                     "gather_subset": ["min"], "tasks": tasks}], sort_keys=False))
    run = ansible_playbook_with_inventory(base / "run", play, inventory)
    assert run.rc == 0, run.output
    return {name: plistlib.loads((base / (name + ".plist")).read_bytes()) for name in RENDERS}


@pytest.mark.parametrize("name, label", [("backup-system", "com.joelclaw.convex-backup"),
                                         ("health-system", "com.joelclaw.convex-health")])
def test_system_domain_jobs_are_daemons_run_as_the_user(plists, name, label):
    job = plists[name]
    assert (job["Label"], job["UserName"]) == (label, "joel")
    # /Users/<name> for a user other than the connecting one (the tests run as someone else).
    assert job["EnvironmentVariables"]["HOME"] == "/Users/joel"
    assert job["ProgramArguments"][3].startswith("/Users/joel/.joelclaw/") and job["ProgramArguments"][3].count(ODD) == 1


def test_user_domain_jobs_are_agents(plists):
    for name in ("backup-user", "health-user"):
        assert "UserName" not in plists[name] and "EnvironmentVariables" not in plists[name], name
        assert plists[name]["ProgramArguments"] == plists[name.replace("user", "system")]["ProgramArguments"]
    assert plists["backup-user"]["StartCalendarInterval"] == plists["backup-system"]["StartCalendarInterval"]
    minutes = yaml.safe_load((ROOT / "roles" / "convex_health_schedule" / "defaults" / "main.yml").read_text())[
        "convex_health_schedule_interval_minutes"]
    assert plists["health-user"]["StartInterval"] == plists["health-system"]["StartInterval"] == minutes * 60


def test_caddy_daemon_runs_the_main_caddyfile_as_homebrew_would(plists):
    job = plists["caddy-system"]
    assert job["Label"] == "com.joelclaw.caddy"
    assert job["ProgramArguments"] == ["/opt/homebrew/bin/caddy", "run", "--config", "/opt/homebrew/etc/Caddy " + ODD,
                                       "--adapter", "caddyfile"]
    # The same Caddy data (certificates, local CA) as the brew services agent it replaces.
    assert job["EnvironmentVariables"]["XDG_DATA_HOME"] == "/opt/homebrew/var/lib"
    assert (job["RunAtLoad"], job["KeepAlive"]) == (True, True)
    assert (job["UserName"], job["EnvironmentVariables"]["HOME"]) == ("joel", "/Users/joel")
