# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection stands alone (issue 13): a user's steps, from the built tarball.

1. ``ansible-galaxy collection build`` of the repository, ``ansible-galaxy collection install`` of the
   tarball into a scratch path (offline, --no-deps). The dependencies come from a second path that holds
   only what galaxy.yml ``dependencies`` declares, taken from the pinned .collections; the repository's own
   link (.collections/ansible_collections/joelclaw/macmini) is NOT on the path, and no ansible.cfg of the
   repository is read: the installed copy is the one used, which ``ansible-galaxy collection list`` shows.
2. An inventory that sets only ``convex_tailnet_hostname`` for the user (the contract comes from the
   installed collection), plus what this rig needs (host_vars, each line explained there).
3. ``ansible-playbook joelclaw.macmini.site`` in render mode (the Convex roles write manifests instead of
   calling a cluster: no Kubernetes here), tags as in the repository's site.yml.
4. ``ansible-playbook joelclaw.macmini.health`` against the Convex stand-in (tests/standins/convex).

One build, one install, one converge, one health run (module scope).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbook_runner import INVENTORY_HOST, PlaybookRun, convex_standin_process

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
HOSTNAME = "mini.standalone-test.ts.net"
# The instance secret the stand-in derives admin keys from (any 64 hex characters).
SECRET = "5a" * 32
sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
import convex_standin  # noqa: E402  pylint: disable=wrong-import-position


def _run(cmd, env, cwd) -> PlaybookRun:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module", name="standin")
def standin_fixture():
    """The Convex TEST STAND-IN (API and dashboard) on free loopback ports, instance name joelclaw."""
    with convex_standin_process(SECRET) as (url, _dashboard_port):
        yield url


@pytest.fixture(scope="module", name="user")
def user_fixture(tmp_path_factory, standin):
    """Build, install, write the user's inventory; returns (env, workdir, inventory, state dir, scratch)."""
    base = tmp_path_factory.mktemp("galaxy")
    dist, scratch, deps, work = base / "dist", base / "scratch", base / "deps", base / "work"
    work.mkdir()
    # No ansible.cfg of the repository, no roles path, no collections but the two paths below.
    config = base / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (scratch, deps),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "HOME": str(base / "home"),  # ansible-galaxy's cache and ~/.ansible go here, not to the real home
        "PATH": "%s:%s" % (BIN, env.get("PATH", "/usr/bin:/bin")),
    })
    built = _run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(ROOT)], env, work)
    assert built.rc == 0, built.output
    tarball = dist / ("%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"]))
    installed = _run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps",
                      "-p", str(scratch), str(tarball)], env, work)
    assert installed.rc == 0, installed.output
    # Only the declared dependencies, from the pinned copies the rest of the suite uses.
    for fqcn in GALAXY["dependencies"]:
        namespace, name = fqcn.split(".")
        (deps / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
        (deps / "ansible_collections" / namespace / name).symlink_to(ROOT / ".collections" / "ansible_collections" / namespace / name)
    state = base / "state"
    inventory = work / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    # What the user writes (README, "Install from Galaxy"): the one host in group macmini, the two
    # connection lines of the sample inventory, and the Mac's MagicDNS name.
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"macmini": {"hosts": {INVENTORY_HOST: {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "convex_tailnet_hostname": HOSTNAME}}}}}}))
    # What this rig needs and a Mac does not, each for one reason:
    (inventory / "host_vars" / (INVENTORY_HOST + ".yml")).write_text(yaml.safe_dump({
        # render mode: no Kubernetes cluster here (as molecule/convex_render).
        "convex_k8s_apply": False,
        # the test's writes stay in its temporary directory, not in <home>/.joelclaw.
        "convex_state_dir": str(state),
        # the stand-in takes the place of the backend's published loopback port.
        "convex_admin_url": standin,
    }))
    return env, work, inventory, state, scratch


def test_the_installed_copy_is_the_one_ansible_uses(user):
    env, work, _inventory, _state, scratch = user
    listed = _run([str(BIN / "ansible-galaxy"), "collection", "list", "joelclaw.macmini", "--format", "json"], env, work)
    assert listed.rc == 0, listed.output
    paths = [path for path, collections in json.loads(listed.stdout).items() if "joelclaw.macmini" in collections]
    assert paths == [str(scratch / "ansible_collections")], paths
    installed = scratch / "ansible_collections" / "joelclaw" / "macmini"
    assert not installed.is_symlink() and (installed / "MANIFEST.json").is_file()
    # The tarball carries what a user runs, not the repository's test machinery.
    assert (installed / "playbooks" / "site.yml").is_file() and (installed / "roles" / "contract" / "defaults" / "main.yml").is_file()
    assert (installed / "requirements.txt").is_file()
    for left_out in ("molecule", "tests/bench", "tests/restic", ".venv", ".collections", "site.yml", "ansible.cfg",
                     "Makefile", "requirements.lock", "requirements-test.lock", "requirements-test.txt", "scripts"):
        assert not (installed / left_out).exists(), left_out


@pytest.fixture(scope="module", name="site")
def site_fixture(user):
    env, work, inventory, _state, _scratch = user
    # -vvv: ansible-playbook names the path of every collection it loads.
    return _run([str(BIN / "ansible-playbook"), "-i", str(inventory), "joelclaw.macmini.site", "-vvv",
                 # macOS checks (they fail on this Linux machine; tests/roles/test_preflight_playbook.py has its fakes).
                 "--skip-tags", "preflight",
                 "--tags", "convex_backend,convex_dashboard"], env, work)


def test_site_converges_render_mode_from_the_installed_collection(user, site):
    _env, _work, _inventory, state, scratch = user
    assert site.rc == 0, site.output[-4000:]
    installed = scratch / "ansible_collections" / "joelclaw" / "macmini"
    # -vvv prints "task path: <file>:<line>" for every task: each one is in the installed copy.
    task_paths = [line.split("task path: ", 1)[1].rsplit(":", 1)[0] for line in site.stdout.splitlines() if "task path: " in line]
    assert len(task_paths) > 20 and any("/roles/contract/" in p or "/roles/convex_backend/" in p for p in task_paths), task_paths
    elsewhere = sorted(path for path in task_paths if not path.startswith(str(installed) + "/"))
    assert not elsewhere, "tasks ran from outside the installed collection: %s" % elsewhere
    assert "PLAY [Phase 0" in site.stdout and site.recap(INVENTORY_HOST)["failed"] == 0
    # The contract came from the installed role defaults, with the user's hostname.
    rendered = "\n".join(p.read_text() for p in sorted((state / "manifests").rglob("*.y*ml")))
    assert "https://%s" % HOSTNAME in rendered, sorted(str(p) for p in (state / "manifests").rglob("*"))
    assert "ghcr.io/get-convex/convex-backend:" in rendered and "ghcr.io/get-convex/convex-dashboard:" in rendered


def test_health_runs_from_the_installed_collection_against_the_standin(user, site, tmp_path):
    env, work, inventory, state, _scratch = user
    assert site.rc == 0, "the converge failed first"
    # The CLI env file convex_backend writes on the Mac from the live backend (render mode does not).
    key = convex_standin.make_admin_key("joelclaw", SECRET)
    env_file = state / "convex-admin.env"
    env_file.write_text("CONVEX_SELF_HOSTED_URL='%s'\nCONVEX_SELF_HOSTED_ADMIN_KEY='%s'\n" % ("https://" + HOSTNAME, key))
    env_file.chmod(0o600)
    report = tmp_path / "health.json"
    # Per-run switches, given with -e as playbooks/health.yml documents: the public https endpoints do not
    # exist here (no Caddy, no Tailscale), so report without failing, and write the JSON report.
    switches = tmp_path / "switches.json"
    switches.write_text(json.dumps({"convex_health_fail_on": "never", "convex_health_report_path": str(report)}))
    run = _run([str(BIN / "ansible-playbook"), "-i", str(inventory), "joelclaw.macmini.health", "-e", "@" + str(switches)],
               env, work)
    assert run.rc == 0, run.output[-4000:]
    probes = {p["name"]: p for p in json.loads(report.read_text())["probes"]}
    for name in ("backend_version", "instance_name", "admin_key"):
        assert probes[name]["status"] == "ok", probes[name]
    assert probes["instance_name"]["value"] == "joelclaw"  # the contract's default convex_instance_name
    assert key not in run.output
