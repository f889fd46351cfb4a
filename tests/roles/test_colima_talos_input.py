# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to colima_talos fails with a clear message before any change, on any OS.

Each case runs the real role with ansible-playbook, the values set the way a user sets them: the repository's
group_vars contract plus a host_vars file. On this Linux machine the role would otherwise end with its
"manages macOS only" message, so reaching that message means the value was accepted. All cases run in one
ansible-playbook, each case one inventory host (each fails or passes on its own).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from playbook_runner import ansible_playbook_hosts, failure_of, host_name, tasks_of

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- hosts: all
  gather_facts: true
  roles:
    - role: joelclaw.macmini.colima_talos
"""
PORTS = {"api": {"host_port": 3210, "node_port": 30210}, "site": {"host_port": 3211, "node_port": 30211},
         "dashboard": {"host_port": 6791, "node_port": 30791}}
LOOPBACK = "Published ports must stay on loopback"
CHARS = "characters that do not belong"
MAC_ONLY = "manages macOS only"
BRIDGE = "colima_talos_port_bridge_image is"
GOOD = {"colima_talos_host_ip": "127.0.0.2", "colima_talos_published_ports": dict(
    PORTS, api={"host_port": 3210, "node_port": 30210, "host_ip": "::1"}),
    # A digest after the tag, as the role README says to pin it (a made-up digest: only its form is checked here).
    "colima_talos_port_bridge_image": "docker.io/alpine/socat:1.8.0.3@sha256:" + "0123456789abcdef" * 4}


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
    "launchd domain neither system nor user": ({"colima_talos_launchd_domain": "daemon"},
                                               "value of colima_talos_launchd_domain must be one of: system, user"),
    "namespace with a newline": ({"colima_talos_storage_namespace": "local-path-storage\n  labels: {}"}, CHARS),
    "local-path dir closing the JSON": ({"colima_talos_local_path_dir": '/var/x"]}],"y":["'}, CHARS),
    "docker host with a space": ({"colima_talos_docker_host": "unix:///tmp/d.sock -H tcp://0.0.0.0:2375"}, CHARS),
    "state dir with a percent": ({"colima_talos_state_dir": "/Users/joel/%n"}, CHARS),
    "writable home mount": ({"colima_talos_mounts": ["/Users/joel:w"]}, CHARS),
    "image with a space": ({"colima_talos_image": "ghcr.io/siderolabs/talos:v1.12.11 --privileged"}, CHARS),
    # Python's $ also matches before a trailing newline: the checks end in \Z, so each of these is refused.
    "host ip loopback with a trailing newline": ({"colima_talos_host_ip": "127.0.0.1\n"}, LOOPBACK),
    "profile with a trailing newline": ({"colima_talos_profile": "default\n"}, CHARS),
    "cluster name with a trailing newline": ({"colima_talos_cluster_name": "joelclaw\n"}, CHARS),
    "launchd label with a trailing newline": ({"colima_talos_boot_label": "com.joelclaw.colima\n"}, CHARS),
    "namespace with a trailing newline": ({"colima_talos_storage_namespace": "local-path-storage\n"}, CHARS),
    "docker host with a trailing newline": ({"colima_talos_docker_host": "unix:///tmp/d.sock\n"}, CHARS),
    "subnet with a trailing newline": ({"colima_talos_subnet": "10.5.0.0/24\n"}, CHARS),
    "local-path dir with a trailing newline": ({"colima_talos_local_path_dir": "/var/local-path\n"}, CHARS),
    "image with a trailing newline": ({"colima_talos_image": "ghcr.io/siderolabs/talos:v1.12.11\n"}, CHARS),
    "state dir with a trailing newline": ({"colima_talos_state_dir": "/Users/joel/.joelclaw\n"}, CHARS),
    "kernel module with a trailing newline": ({"colima_talos_kernel_modules": ["br_netfilter\n"]}, CHARS),
    "mount with a trailing newline": ({"colima_talos_mounts": ["/Users/joel/data\n"]}, CHARS),
    # The socat bridge image is pinned like the local-path images: IMAGE:TAG[@sha256:<digest>].
    "bridge image latest": ({"colima_talos_port_bridge_image": "docker.io/alpine/socat:latest"}, BRIDGE),
    "bridge image without a tag": ({"colima_talos_port_bridge_image": "docker.io/alpine/socat"}, BRIDGE),
    "bridge image short digest": ({"colima_talos_port_bridge_image": "docker.io/alpine/socat:1.8.0.3@sha256:abc"}, BRIDGE),
    "bridge image with a trailing newline": ({"colima_talos_port_bridge_image": "docker.io/alpine/socat:1.8.0.3\n"}, BRIDGE),
}


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    """Every case, and the loopback alternatives, as hosts of one run; the contract as group_vars/all."""
    hosts = {host_name(case): values for case, (values, _needle) in CASES.items()}
    assert len(hosts) == len(CASES) and "loopback-alternatives" not in hosts
    hosts["loopback-alternatives"] = GOOD
    contract = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    return ansible_playbook_hosts(tmp_path_factory.mktemp("colima-input"), PLAY, hosts, group_vars=contract)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_values_are_refused_before_anything(converged, case):
    host = host_name(case)
    _values, needle = CASES[case]
    assert needle in failure_of(converged, host), converged.output
    assert not any(MAC_ONLY in task for task in tasks_of(converged, host)), tasks_of(converged, host)


def test_defaults_and_loopback_alternatives_pass(converged):
    assert converged.recap("loopback-alternatives")["failed"] == 0, converged.output
    assert any(MAC_ONLY in task for task in tasks_of(converged, "loopback-alternatives")), converged.output
