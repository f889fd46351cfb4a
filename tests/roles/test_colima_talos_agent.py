# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The login agent as the role installs it: the real ansible-playbook renders the plist and copies the script,
then the agent's ProgramArguments are run as launchd would, against the fake colima/docker of the unit tests.

Guards the wiring of colima_talos_kernel_modules from the role defaults into the boot path: after a VM restart
br_netfilter is loaded again before the Talos nodes start.
"""
from __future__ import annotations

import json
import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """
- hosts: mac
  gather_facts: true
  tasks:
    - name: Ensure the directories of the agent exist.
      ansible.builtin.file:
        path: "{{{{ item }}}}"
        state: directory
        mode: "0700"
      loop: ["{{{{ colima_talos_state_dir }}}}/bin", "{{{{ colima_talos_state_dir }}}}/log"]
    - name: Install the boot script as boot.yml does.
      ansible.builtin.copy:
        src: {root}/roles/colima_talos/files/colima-talos-boot.sh
        dest: "{{{{ colima_talos_state_dir }}}}/bin/colima-talos-boot.sh"
        mode: "0700"
    - name: Render the agent as boot.yml does.
      ansible.builtin.template:
        src: {root}/roles/colima_talos/templates/colima-talos.plist.j2
        dest: "{{{{ colima_talos_state_dir }}}}/agent.plist"
        mode: "0644"
"""


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = macos_clis.World(tmp_path, monkeypatch)
    world.add_profile()
    return world


def install_agent(tmp_path, world, state_name="joelclaw"):
    state_dir = tmp_path / state_name
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "group_vars").mkdir()
    # The role's defaults, below host_vars as role defaults are (a play's vars_files would override them).
    # Its vars/main.yml (the plist paths and the job's HOME) as well.
    (inventory / "group_vars" / "all.yml").write_text(
        (ROOT / "roles" / "colima_talos" / "defaults" / "main.yml").read_text()
        + (ROOT / "roles" / "colima_talos" / "vars" / "main.yml").read_text().replace("---\n", "", 1))
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"mac": None}}}))
    (inventory / "host_vars" / "mac.yml").write_text(yaml.safe_dump({
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "colima_talos_state_dir": str(state_dir),
        "colima_talos_profile": "default",
        "colima_talos_cluster_name": "joelclaw",
        "colima_talos_bin_dir": str(Path(world.bin)),
        # What the colima_profile task registers; the plist falls back to it.
        "__colima_talos_vm": {"docker_host": world.docker_host()},
    }))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(root=ROOT))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_RETRY_FILES_ENABLED="0")
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
                           str(playbook)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(state_dir / "agent.plist", "rb") as handle:
        return plistlib.load(handle)


def test_agent_loads_br_netfilter_before_it_starts_the_nodes(tmp_path, world):
    agent = install_agent(tmp_path, world)
    argv = agent["ProgramArguments"]
    assert argv[2:] == ["default", "joelclaw", world.docker_host(), "br_netfilter"]
    created = world.run("talosctl", "cluster", "create", "docker", "--name", "joelclaw", "--workers", "0",
                        "--state", str(tmp_path / "talos"), "--talosconfig-destination", str(tmp_path / "tc"),
                        DOCKER_HOST=world.docker_host(), KUBECONFIG=str(tmp_path / "kc"))
    assert created.returncode == 0, created.stderr
    world.run("colima", "stop", "default")
    world.clear_calls()

    booted = subprocess.run(argv, env=dict(os.environ, **agent["EnvironmentVariables"]), capture_output=True,
                            text=True, check=False)
    assert booted.returncode == 0, booted.stdout + booted.stderr
    assert world.state()["profiles"]["default"]["modules"] == ["br_netfilter"]
    order = [(c["tool"], c["args"][0]) for c in world.calls() if c["args"][0] in ("ssh", "start")]
    assert order == [("colima", "start"), ("colima", "ssh"), ("docker", "start")]


def test_plist_escapes_paths_with_xml_metacharacters(tmp_path, world):
    """A state dir named `a&b<c` is legal on macOS; unescaped it breaks the plist (launchd would refuse it)."""
    agent = install_agent(tmp_path, world, state_name="a&b<c")
    assert agent["ProgramArguments"][1] == str(tmp_path / "a&b<c" / "bin" / "colima-talos-boot.sh")
    assert agent["StandardOutPath"] == str(tmp_path / "a&b<c" / "log" / "colima-talos-boot.log")
    assert agent["ProgramArguments"][2:] == ["default", "joelclaw", world.docker_host(), "br_netfilter"]


MANIFEST_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Render the local-path manifest as storage.yml does.
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{root}/roles/colima_talos/templates/local-path-storage.yaml.j2') }}}}"
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def test_manifest_interpolations_cannot_add_keys(tmp_path):
    """The template is rendered here without the role's validation: each value must stay one string."""
    namespace = "x\nmetadata: {labels: {pod-security.kubernetes.io/enforce: privileged}}"
    path = '/var/x"]}], "sharedFileSystemPath": "/'
    image = "busybox:1.37.0\n          securityContext: {privileged: true}"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "colima_talos_storage_namespace": namespace, "colima_talos_local_path_dir": path,
        "colima_talos_local_path_helper_image": image, "colima_talos_local_path_image": "rancher/lpp:v0.0.31",
        "out": str(tmp_path / "manifest.yaml")}))
    (tmp_path / "play.yml").write_text(MANIFEST_PLAY.format(root=ROOT))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
                           "-e", "@" + str(tmp_path / "vars.yml"), "-e", "ansible_python_interpreter=" + sys.executable,
                           str(tmp_path / "play.yml")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = list(yaml.safe_load_all((tmp_path / "manifest.yaml").read_text()))
    cluster_wide = ("Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass")
    namespaced = [d for d in docs if d["kind"] not in cluster_wide]
    assert namespaced and all(d["metadata"]["namespace"] == namespace for d in namespaced)
    [ns] = [d for d in docs if d["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == namespace
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    assert json.loads(config["data"]["config.json"]) == {
        "nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [path]}]}
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "rancher/lpp:v0.0.31"
    helper = yaml.safe_load(config["data"]["helperPod.yaml"])
    [container] = helper["spec"]["containers"]
    assert container == {"name": "helper-pod", "image": image, "imagePullPolicy": "IfNotPresent"}
