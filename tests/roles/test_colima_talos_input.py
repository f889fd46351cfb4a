# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to colima_talos fails with a clear message before any change, on any OS.

Each case runs the real role with ansible-playbook, the values set the way a user sets them: the repository's
group_vars contract plus a host_vars file. On this Linux machine the role would otherwise end with its
"manages macOS only" message, so reaching that message means the value was accepted.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- hosts: mac
  gather_facts: true
  roles:
    - role: joelclaw.macmini.colima_talos
"""
PORTS = {"api": {"host_port": 3210, "node_port": 30210}, "site": {"host_port": 3211, "node_port": 30211},
         "dashboard": {"host_port": 6791, "node_port": 30791}}
LOOPBACK = "Published ports must stay on loopback"
CHARS = "characters that do not belong"


def converge(tmp_path, host_vars):
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "group_vars" / "all").mkdir(parents=True)
    contract = (ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text()
    (inventory / "group_vars" / "all" / "main.yml").write_text(contract)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"mac": None}}}))
    (inventory / "host_vars" / "mac.yml").write_text(yaml.safe_dump(dict(
        {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)))
    (tmp_path / "play.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_RETRY_FILES_ENABLED="0")
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
                           str(tmp_path / "play.yml")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


CASES = {
    "host ip on every interface": ({"colima_talos_host_ip": "0.0.0.0"}, LOOPBACK),
    "host ip on the LAN": ({"colima_talos_host_ip": "192.168.1.20"}, LOOPBACK),
    "host ip IPv6 any": ({"colima_talos_host_ip": "::"}, LOOPBACK),
    "host ip looks like loopback": ({"colima_talos_host_ip": "127.0.0.1.evil.example"}, LOOPBACK),
    "contract bind address on the LAN": ({"convex_host_bind_address": "10.0.0.5"}, LOOPBACK),
    "one port on every interface": (
        {"colima_talos_published_ports": dict(
            PORTS, dashboard={"host_port": 6791, "node_port": 30791, "host_ip": "0.0.0.0"})}, LOOPBACK),
    "profile with an extra flag": ({"colima_talos_profile": "default --mount /:w"}, CHARS),
    "cluster name closing a JSON string": ({"colima_talos_cluster_name": 'joelclaw"}'}, CHARS),
    "launchd label closing the plist string": ({"colima_talos_boot_label": "x</string><string>/bin/sh"}, CHARS),
    "namespace with a newline": ({"colima_talos_storage_namespace": "local-path-storage\n  labels: {}"}, CHARS),
    "local-path dir closing the JSON": ({"colima_talos_local_path_dir": '/var/x"]}],"y":["'}, CHARS),
    "docker host with a space": ({"colima_talos_docker_host": "unix:///tmp/d.sock -H tcp://0.0.0.0:2375"}, CHARS),
    "state dir with a percent": ({"colima_talos_state_dir": "/Users/joel/%n"}, CHARS),
    "writable home mount": ({"colima_talos_mounts": ["/Users/joel:w"]}, CHARS),
    "image with a space": ({"colima_talos_image": "ghcr.io/siderolabs/talos:v1.12.11 --privileged"}, CHARS),
}


@pytest.mark.parametrize("host_vars,needle", CASES.values(), ids=list(CASES))
def test_hostile_values_are_refused_before_anything(tmp_path, host_vars, needle):
    rc, output = converge(tmp_path, host_vars)
    assert rc != 0, output
    assert needle in output
    assert "manages macOS only" not in output


def test_defaults_and_loopback_alternatives_pass(tmp_path):
    rc, output = converge(tmp_path, {"colima_talos_host_ip": "127.0.0.2", "colima_talos_published_ports": dict(
        PORTS, api={"host_port": 3210, "node_port": 30210, "host_ip": "::1"})})
    assert rc == 0, output
    assert "manages macOS only" in output
