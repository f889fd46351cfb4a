# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The colima_talos task flow, run by the real ansible-playbook on this Linux host in test mode.

colima_talos_test_mode lets the role past its "macOS only" ending; brew, colima, talosctl, docker and launchctl
are the stateful fakes of tests/unit/fakebin/macos_clis.py (each names the upstream source it follows) on
colima_talos_bin_dir. Variables come from an inventory shaped like the sample one (the repository's group_vars and
a host_vars file), HOME is a scratch directory, so nothing of this machine is touched. The Kubernetes tasks
(storage, health) are skipped in test mode: no Talos node runs here.

The flow shares one fake Mac, in order: converge, converge again (changed=0), a CPU change refused without the
confirmation, the same change with it (stop, start), a reboot with node containers that have no restart policy,
the restart policy bringing nodes back by itself, and a cluster change refused without recreating anything.
The boot job: a LaunchDaemon by default (plist in the scratch daemons directory with UserName, bootstrapped in the
system domain of the fake launchctl), replacing the LaunchAgent an earlier version of the role left (seeded before
the first converge); the reboot converge runs with colima_talos_launchd_domain: user and gets the agent back.
The adoption test starts from a profile and cluster someone else made, without the published ports (the module
tests cover adoption with the ports published, of a missing profile or cluster, and the refusals).
"""
from __future__ import annotations

import os
import plistlib
import stat
import sys
from pathlib import Path

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook_with_inventory, assert_no_leak, write_inventory

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """
- name: Converge colima_talos in test mode.
  hosts: macmini
  gather_facts: true
  gather_subset: [min]
  roles:
    - role: joelclaw.macmini.colima_talos
"""
MUTATING = {("colima", "start"), ("colima", "stop"), ("colima", "delete"), ("docker", "rm"), ("docker", "run"),
            ("docker", "start"), ("docker", "update")}


class Mac:
    """A fake Mac: the fakes on a bin dir, their state file, a scratch HOME, and an inventory directory."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.patch = pytest.MonkeyPatch()
        self.world = macos_clis.World(root / "fake", self.patch)
        self.patch.setenv("HOME", str(self.home))
        self.state_dir = self.home / ".joelclaw"
        self.playbook = root / "play.yml"
        self.playbook.write_text(PLAY)
        self.host_vars = {
            "colima_talos_test_mode": True,
            "colima_talos_bin_dir": self.world.bin,
            "convex_state_dir": str(self.state_dir),
            "colima_talos_launch_agents_dir": str(self.home / "Library" / "LaunchAgents"),
            "colima_talos_launch_daemons_dir": str(root / "Library" / "LaunchDaemons"),
            # The Mac's user (the tests may run as root, which the daemon refuses: test_daemon_as_root_is_refused).
            "colima_talos_launchd_user": USER,
            "colima_talos_adopt_talosconfig": str(self.home / ".talos" / "config"),
        }

    def converge(self, verbosity=0, **host_vars):
        inventory = write_inventory(self.root, dict(self.host_vars, **host_vars))
        self.world.clear_calls()
        return ansible_playbook_with_inventory(self.root / "run", self.playbook, inventory, verbosity=verbosity)

    def mutations(self):
        return [[c["tool"]] + c["args"] for c in self.world.calls() if (c["tool"], c["args"][0]) in MUTATING]

    def nodes(self):
        return {n: c for n, c in self.world.state()["containers"].items()
                if c["labels"].get("talos.cluster.name")}


def created_or_destroyed(mac):
    return [c for c in mac.world.calls("talosctl") if c["args"][:2] in (["cluster", "destroy"], ["cluster", "create"])]


def make_mac(tmp_path_factory, name):
    (tmp_path_factory.getbasetemp() / name).mkdir()
    mac = Mac(tmp_path_factory.getbasetemp() / name)
    daemon_plist(mac).parent.mkdir(parents=True)  # macOS ships /Library/LaunchDaemons; the role never creates it
    return mac


LABEL = "com.joelclaw.colima-talos"
USER = "joel"
LAUNCHCTL_CHANGES = ("load", "unload", "bootstrap", "bootout")


def agent_plist(mac):
    return mac.home / "Library" / "LaunchAgents" / (LABEL + ".plist")


def daemon_plist(mac):
    return mac.root / "Library" / "LaunchDaemons" / (LABEL + ".plist")


def launchctl_changes(mac):
    return [c["args"] for c in mac.world.calls("launchctl") if c["args"][0] in LAUNCHCTL_CHANGES]


@pytest.fixture(scope="module")
def mac(tmp_path_factory):
    mac = make_mac(tmp_path_factory, "flow")
    # What the role installed before it made a LaunchDaemon: a loaded LaunchAgent under the same label.
    agent_plist(mac).parent.mkdir(parents=True)
    agent_plist(mac).write_bytes(plistlib.dumps({"Label": LABEL, "ProgramArguments": ["/bin/true"]}))
    assert mac.world.run("launchctl", "load", str(agent_plist(mac))).returncode == 0
    mac.runs = {}
    yield mac
    mac.patch.undo()


def test_converge_runs_the_whole_flow(mac):
    # At -vvv: the fake docker's node containers hold a (fake) Talos machine config with every cluster CA
    # key in their USERDATA; nothing of it may reach the output.
    run = mac.converge(verbosity=3)
    assert run.rc == 0, run.output
    assert_no_leak(run, {})
    assert run.recap("joelclaw-mini")["changed"] > 0
    state = mac.world.state()
    assert sorted(state["brew_installed"]) == ["colima", "docker", "kubernetes-cli", "talosctl"]
    profile = state["profiles"]["default"]
    assert (profile["status"], profile["cpus"], profile["memory"] // macos_clis.GIB) == ("Running", 4, 8)
    assert profile["modules"] == ["br_netfilter"] and profile["mounts"] is None
    [node] = mac.nodes().values()
    assert (node["state"], node["restart"]) == ("running", "unless-stopped")
    ports = sorted((b["host_ip"], b["host_port"], b["container_port"]) for b in node["ports"])
    assert ("127.0.0.1", "3210", "30010/tcp") in ports
    assert all(host_ip == "127.0.0.1" for host_ip, _port, _container in ports)
    assert stat.S_IMODE(os.stat(mac.state_dir / "kubeconfig").st_mode) == 0o600
    assert (mac.state_dir / "bin" / "colima-talos-boot.sh").exists()
    mac.runs["first"] = (run, mac.world.calls("launchctl"))


def test_first_converge_replaces_the_agent_with_a_daemon(mac):
    state = mac.world.state()
    # The LaunchAgent of the earlier version: unloaded (legacy domain) and its plist removed.
    assert LABEL not in state["launchd"] and not agent_plist(mac).exists()
    # The LaunchDaemon: its plist, parsed as launchd would, runs the boot script as the converging user.
    with daemon_plist(mac).open("rb") as handle:
        job = plistlib.load(handle)
    assert stat.S_IMODE(os.stat(daemon_plist(mac)).st_mode) == 0o644
    assert (job["Label"], job["UserName"], job["GroupName"]) == (LABEL, USER, "staff")
    assert job["EnvironmentVariables"]["HOME"] == "/Users/" + USER
    assert job["EnvironmentVariables"]["PATH"].split(":")[0] == mac.world.bin
    assert job["ProgramArguments"][:3] == ["/bin/bash", str(mac.state_dir / "bin" / "colima-talos-boot.sh"), "default"]
    assert (job["RunAtLoad"], job["StartInterval"], job["ProcessType"]) == (True, 300, "Background")
    # Loaded in the system domain, not with the legacy load of a user's agent.
    assert state["launchd_system"][LABEL]["plist"] == str(daemon_plist(mac))
    assert state["launchd_system"][LABEL]["username"] == USER
    _run, calls = mac.runs["first"]
    assert ["bootstrap", "system", str(daemon_plist(mac))] in [c["args"] for c in calls]
    assert ["load", str(daemon_plist(mac))] not in [c["args"] for c in calls]


def test_second_converge_changes_nothing(mac):
    run = mac.converge()
    assert run.rc == 0, run.output
    assert run.recap("joelclaw-mini")["changed"] == 0, run.output
    assert mac.mutations() == []
    assert launchctl_changes(mac) == []
    assert LABEL in mac.world.state()["launchd_system"]


def test_daemon_as_root_is_refused(mac):
    run = mac.converge(colima_talos_launchd_user="root")
    assert run.rc != 0
    assert 'colima_talos_launchd_user must be the user who owns the Colima profile' in run.output
    assert 'user="root"' in run.output
    assert mac.mutations() == [] and launchctl_changes(mac) == []


def test_cpu_change_is_refused_without_the_confirmation(mac):
    run = mac.converge(colima_talos_cpus=6, colima_talos_allow_restart=True)
    assert run.rc != 0
    assert "colima_talos_restart_confirm=default" in run.output and "cpus 4 -> 6" in run.output
    assert mac.mutations() == []
    assert mac.world.state()["profiles"]["default"]["cpus"] == 4


def test_cpu_change_with_the_confirmation_stops_and_starts_the_vm(mac):
    run = mac.converge(colima_talos_cpus=6, colima_talos_allow_restart=True, colima_talos_restart_confirm="default")
    assert run.rc == 0, run.output
    colima = [m[:2] for m in mac.mutations() if m[0] == "colima"]
    assert colima == [["colima", "stop"], ["colima", "start"]]
    assert mac.world.state()["profiles"]["default"]["cpus"] == 6
    assert {n["state"] for n in mac.nodes().values()} == {"running"}
    mac.host_vars["colima_talos_cpus"] = 6


def test_reboot_recovery_starts_exited_node_containers(mac):
    # Nodes made before the role set a restart policy stay Exited when the VM comes back.
    mac.world.edit(lambda s: [c.__setitem__("restart", "no") for c in s["containers"].values()])
    mac.world.run("colima", "stop", "default")
    assert {n["state"] for n in mac.nodes().values()} == {"exited"}
    # This converge also switches the boot job to a LaunchAgent (test_user_domain_keeps_a_launch_agent).
    run = mac.converge(colima_talos_launchd_domain="user")
    assert run.rc == 0, run.output
    mac.runs["user"] = (run, mac.world.calls("launchctl"))
    done = mac.mutations()
    assert ["colima", "start", "default"] == done[0][:3]
    assert ["docker", "update", "--restart", "unless-stopped", "joelclaw-controlplane-1"] in done
    assert ["docker", "start", "joelclaw-controlplane-1"] in done
    assert {(n["state"], n["restart"]) for n in mac.nodes().values()} == {("running", "unless-stopped")}


def test_user_domain_keeps_a_launch_agent(mac):
    state = mac.world.state()
    assert state["launchd"][LABEL]["plist"] == str(agent_plist(mac))
    with agent_plist(mac).open("rb") as handle:
        job = plistlib.load(handle)
    assert "UserName" not in job and "GroupName" not in job
    assert job["ProgramArguments"][1] == str(mac.state_dir / "bin" / "colima-talos-boot.sh")
    # The daemon of the converges before: booted out of the system domain and its plist removed.
    assert LABEL not in state["launchd_system"] and not daemon_plist(mac).exists()
    _run, calls = mac.runs["user"]
    assert ["bootout", "system/" + LABEL] in [c["args"] for c in calls]


def test_restart_policy_brings_the_nodes_back_with_the_vm(mac):
    mac.world.run("colima", "stop", "default")
    mac.world.run("colima", "start", "default")
    assert {n["state"] for n in mac.nodes().values()} == {"running"}


def test_cluster_change_is_refused_and_nothing_is_recreated(mac):
    run = mac.converge(colima_talos_workers=1)
    assert run.rc != 0
    assert "colima_talos_workers=1" in run.output
    assert "after a backup" in run.output and "Redis, Qdrant and Inngest" in run.output
    assert mac.mutations() == []
    assert not created_or_destroyed(mac)


# ---------------------------------------------------------------- adoption

def owners_mac(tmp_path_factory, name, exposed_ports=""):
    """A Mac where the owner already runs Colima (2 CPUs, $HOME mounted, as `colima start` makes it) and a Talos
    cluster `homelab` made with plain `talosctl cluster create docker`, plus another container of theirs."""
    mac = make_mac(tmp_path_factory, name)
    mac.world.add_profile(cpus=2, memory_gib=4)
    argv = ["talosctl", "cluster", "create", "docker", "--name", "homelab", "--workers", "0", "--host-ip",
            "127.0.0.1", "--talosconfig-destination", str(mac.home / ".talos" / "config")]
    if exposed_ports:
        argv += ["--exposed-ports", exposed_ports]
    created = mac.world.run(*argv, DOCKER_HOST=mac.world.docker_host(), KUBECONFIG=str(mac.home / ".kube" / "config"))
    assert created.returncode == 0, created.stderr
    mac.host_vars.update(colima_talos_adopt=True, colima_talos_cluster_name="homelab")
    return mac


def test_adopting_a_cluster_without_published_ports_bridges_them(tmp_path_factory):
    mac = owners_mac(tmp_path_factory, "adopt-bridge")
    try:
        run = mac.converge()
        assert run.rc == 0, run.output
        # The owner's VM and cluster: never stopped, restarted, recreated or deleted.
        assert [m for m in mac.mutations() if m[0] == "colima" or m[1] == "rm"] == []
        assert not created_or_destroyed(mac)
        assert "Adopted Colima profile 'default' is left as it is: cpus 2 -> 4" in run.output
        profile = mac.world.state()["profiles"]["default"]
        assert (profile["status"], profile["cpus"], profile["mounts"]) == ("Running", 2, [])
        containers = mac.world.state()["containers"]
        assert containers["homelab-controlplane-1"]["restart"] == "unless-stopped"
        bridges = {n: c for n, c in containers.items() if n.startswith("homelab-bridge-")}
        assert sorted(bridges) == ["homelab-bridge-api", "homelab-bridge-dashboard", "homelab-bridge-drill", "homelab-bridge-site"]
        api = bridges["homelab-bridge-api"]
        assert api["ports"] == [{"container_port": "30010/tcp", "host_ip": "127.0.0.1", "host_port": "3210"}]
        assert (api["network"], api["restart"], api["entrypoint"]) == ("homelab", "unless-stopped", "socat")
        assert api["command"] == ["TCP-LISTEN:30010,fork,reuseaddr", "TCP-CONNECT:homelab-controlplane-1:30010"]
        talosconfig = mac.state_dir / "talosconfig"
        assert "homelab" in yaml.safe_load(talosconfig.read_text())["contexts"]
        assert stat.S_IMODE(os.stat(talosconfig).st_mode) == 0o600
        kubeconfig = yaml.safe_load((mac.state_dir / "kubeconfig").read_text())
        assert [c["cluster"]["server"] for c in kubeconfig["clusters"]] == ["https://127.0.0.1:53211"]

        again = mac.converge()
        assert again.rc == 0, again.output
        assert again.recap("joelclaw-mini")["changed"] == 0, again.output
        assert mac.mutations() == []

        # The bridges carry a restart policy: they come back with the VM, like the node.
        mac.world.run("colima", "stop", "default")
        mac.world.run("colima", "start", "default")
        assert {c["state"] for c in mac.world.state()["containers"].values()} == {"running"}
    finally:
        mac.patch.undo()
