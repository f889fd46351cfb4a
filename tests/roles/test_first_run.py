# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The first run, end to end, as a new owner meets it: real ansible-playbook, the repository's
site.yml and playbooks, variables from inventory files.

* Health right after the first converge: no backup yet, but the job is installed, so backup_age
  warns instead of failing the play (the Convex backend is the stand-in of test_convex_backend_apply.py).
* With the sample inventory (Convex Auth settings still empty) the full converge stops with one
  message naming every missing phase-1 setting, before phase 0 changes anything.
* The end of a converge prints the next steps: Vercel's value, where the admin key is (never the key),
  how to deploy functions and how to take the first backup.

--skip-tags preflight keeps playbooks/preflight.yml (imported first by site.yml, macOS checks that fail
on this Linux machine) out of these runs; it is tested on its own with its fakes.
"""
from __future__ import annotations

import json
import sys

from playbook_runner import INVENTORY_HOST, ansible_playbook_with_inventory, write_inventory
from test_convex_backend import ROOT, SECRET
from test_convex_backend_apply import convex  # noqa: F401  pylint: disable=unused-import
from test_playbook_paths import namespace_prefix, needs_namespace

sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
import convex_standin  # noqa: E402  pylint: disable=wrong-import-position

SKIP_PREFLIGHT = ("--skip-tags", "preflight")


def write_admin_env(state, url):
    """The CLI env file convex_backend writes (0600), with a key the stand-in accepts."""
    key = convex_standin.make_admin_key("joelclaw", SECRET)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    env_file = state / "convex-admin.env"
    env_file.write_text("CONVEX_SELF_HOSTED_URL='%s'\nCONVEX_SELF_HOSTED_ADMIN_KEY='%s'\n" % (url, key))
    env_file.chmod(0o600)
    return key


def test_health_right_after_the_first_converge_warns_about_the_first_backup(tmp_path, convex):  # noqa: F811
    """The converge installed the backup job (its config exists) and no backup exists yet: the
    owner's first health run must pass, with backup_age a warning until the first daily run is due."""
    url, dashboard_port = convex
    state = tmp_path / "state"
    write_admin_env(state, url)
    (state / "backups").mkdir(mode=0o700)
    (state / "backup-job").mkdir(mode=0o700)
    (state / "backup-job" / "config.json").write_text("{}")  # what convex_backup's install writes
    inventory = write_inventory(tmp_path, {
        "convex_state_dir": str(state), "convex_k8s_apply": False,
        "convex_published_ports": {"api": {"host_port": int(url.rsplit(":", 1)[1]), "node_port": 30010},
                                   "site": {"host_port": 3211, "node_port": 30011},
                                   "dashboard": {"host_port": dashboard_port, "node_port": 30012}},
        # The stand-in serves these over plain HTTP on loopback (no Caddy, no Tailscale here).
        "convex_cloud_origin": url, "convex_site_origin": url,
        "convex_dashboard_url": "http://127.0.0.1:%d" % dashboard_port})
    report = tmp_path / "health.json"
    run = ansible_playbook_with_inventory(tmp_path / "run", ROOT / "playbooks" / "health.yml", inventory,
                                          extra_vars={"convex_health_report_path": str(report)})
    assert run.rc == 0, run.output[-3000:]
    probes = {p["name"]: p for p in json.loads(report.read_text())["probes"]}
    assert probes["backup_age"]["status"] == "warn", probes["backup_age"]
    assert "no backup yet, job installed" in probes["backup_age"]["hint"]
    assert "playbooks/backup.yml" in probes["backup_age"]["hint"]
    assert "no backup yet, job installed" in run.stdout


@needs_namespace
def test_the_sample_inventory_stops_before_phase_0_with_every_missing_phase_1_setting(tmp_path):
    """The repository's own sample inventory, as a new owner runs it first: `ansible-playbook site.yml`."""
    home = tmp_path / "home"
    home.mkdir()
    run = ansible_playbook_with_inventory(tmp_path / "run", ROOT / "site.yml", ROOT / "inventory" / "hosts.yml",
                                          prefix=namespace_prefix(home, tmp_path), options=SKIP_PREFLIGHT)
    assert run.rc != 0, run.stdout[-3000:]
    for setting in ("convex_auth_site_url", "convex_auth_github_id", "convex_auth_github_secret"):
        assert setting in run.stdout, run.stdout[-3000:]
    assert "https://macmini.example-tailnet.ts.net:8443/api/auth/callback/github" in run.stdout
    assert "--tags phase0" in run.stdout
    # Nothing of phase 0 ran, and nothing was written to the owner's state directory.
    assert "PLAY [Phase 0" not in run.stdout
    assert not (home / ".joelclaw").exists(), sorted(str(p) for p in home.rglob("*"))


def test_the_end_of_a_converge_prints_the_next_steps_without_the_admin_key(tmp_path):
    state = tmp_path / "state"
    key = write_admin_env(state, "http://127.0.0.1:3210")
    inventory = write_inventory(tmp_path, {"convex_state_dir": str(state)})
    run = ansible_playbook_with_inventory(tmp_path / "run", ROOT / "site.yml", inventory,
                                          options=SKIP_PREFLIGHT + ("--tags", "next_steps"))
    assert run.rc == 0, run.output[-3000:]
    assert run.recap(INVENTORY_HOST)["changed"] == 0
    out = " ".join(run.stdout.split())  # the report's lines may wrap
    assert "NEXT_PUBLIC_CONVEX_URL=https://macmini.example-tailnet.ts.net" in out
    assert "CONVEX_SELF_HOSTED_ADMIN_KEY in %s" % (state / "convex-admin.env") in out
    assert "https://macmini.example-tailnet.ts.net:8444" in out  # the dashboard
    assert "npx convex deploy --env-file %s" % (state / "convex-admin.env") in out
    assert "ansible-playbook -i %s %s" % (inventory, ROOT / "playbooks" / "backup.yml") in out
    assert "ansible-playbook -i %s %s" % (inventory, ROOT / "playbooks" / "health.yml") in out
    assert key not in run.output
    assert key.split("|", 1)[1][:16] not in run.output
