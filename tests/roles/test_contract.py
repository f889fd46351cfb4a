# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared contract in group_vars/all/main.yml, read the way users set it (inventory files).

* NodePorts. Since Kubernetes 1.29 the API server gives a Service without an explicit nodePort a
  port from the upper band of the range first (KEP-3668, kubernetes/enhancements
  keps/sig-network/3668-reserved-service-nodeport-range/README.md: band offset
  min(max(16, size/32), 128), 86 for the default 30000-32767, so 30000-30085 is the static band).
  Ports published at cluster creation must be static choices, so they belong in 30000-30085.
* One Kubernetes version: colima_talos creates the cluster with it and the manifests are validated
  against its schemas; neither role may carry a version of its own.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbook_runner import RENDER_CONVERGE, ansible_playbook_with_inventory, write_inventory

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = yaml.safe_load((ROOT / "group_vars" / "all" / "main.yml").read_text())
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))

# KEP-3668 "Proposed Services NodePorts allocation model", default --service-node-port-range.
RANGE_LOW, RANGE_HIGH = 30000, 32767
STATIC_BAND_END = RANGE_LOW + min(max(16, (RANGE_HIGH - RANGE_LOW) // 32), 128) - 1

CONVERGE = RENDER_CONVERGE


def test_the_static_band_is_the_one_the_kep_computes():
    assert STATIC_BAND_END == 30085


def test_group_vars_node_ports_are_static_choices():
    ports = {name: spec["node_port"] for name, spec in GROUP_VARS["convex_published_ports"].items()}
    outside = {name: port for name, port in ports.items() if not RANGE_LOW <= port <= STATIC_BAND_END}
    assert not outside, "in the band Kubernetes assigns automatically first: %s" % outside
    assert len(set(ports.values())) == len(ports), ports


def render(tmp_path, **host_vars):
    settings = {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False}
    settings.update(host_vars)
    inventory = write_inventory(tmp_path, settings)
    play = tmp_path / "converge.yml"
    play.write_text(CONVERGE)
    return ansible_playbook_with_inventory(tmp_path / "run", play, inventory)


@pytest.mark.parametrize("name,port", [("api", 30210), ("site", 30086), ("dashboard", 30791), ("api", 29999)])
def test_a_node_port_outside_the_static_band_is_refused_before_any_change(tmp_path, name, port):
    ports = json.loads(json.dumps(GROUP_VARS["convex_published_ports"]))
    ports[name]["node_port"] = port
    run = render(tmp_path, convex_published_ports=ports)
    assert run.rc != 0, run.output
    assert "convex_published_ports.%s.node_port is %d; expected 30000-30085" % (name, port) in run.output, run.output
    assert "KEP-3668" in run.output
    assert not (tmp_path / "state").exists(), "a failed validation still wrote files"


# ---------------------------------------------------------------- one Kubernetes version
def resolved(tmp_path, expression):
    """Template `expression` on the inventory host with the role defaults loaded, as a play would."""
    inventory = write_inventory(tmp_path, {})
    play = tmp_path / "resolve.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "macmini", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(ROOT / "roles" / role / "defaults" / "main.yml")}}
            for role in ("colima_talos", "convex_backend")
        ] + [{"ansible.builtin.debug": {"msg": "RESOLVED=%s" % expression}}],
    }]))
    run = ansible_playbook_with_inventory(tmp_path / "run", play, inventory)
    assert run.rc == 0, run.output
    return re.search(r"RESOLVED=(\S+)", run.stdout).group(1).strip("'\"")


def test_the_cluster_is_created_with_the_contract_version(tmp_path):
    version = GROUP_VARS["convex_kubernetes_version"]
    assert re.fullmatch(r"1\.[0-9]+\.[0-9]+", version), version
    assert resolved(tmp_path, "{{ colima_talos_kubernetes_version }}") == version


def test_no_role_carries_a_kubernetes_version_of_its_own():
    literal = re.compile(r"""kubernetes_version:\s*["']?v?1\.[0-9]+""")
    found = []
    for role in sorted((ROOT / "roles").iterdir()):
        for path in [role / "defaults" / "main.yml", role / "meta" / "argument_specs.yml", role / "README.md"]:
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if literal.search(line):
                    found.append("%s:%d: %s" % (path.relative_to(ROOT), number, line.strip()))
    assert not found, "\n".join(found)


def test_the_manifests_are_validated_at_the_contract_version():
    """Both render checks (role tests and molecule convex_render) take the version from the contract."""
    import test_convex_backend  # pylint: disable=import-outside-toplevel
    assert test_convex_backend.K8S_VERSION == GROUP_VARS["convex_kubernetes_version"]
    verify = (ROOT / "molecule" / "convex_render" / "verify.yml").read_text()
    assert "'-k', convex_kubernetes_version]" in verify
    # kubernetes-validate ships strict schemas for that version (an unknown version would fail every render test).
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}]}}
    proc = subprocess.run([KUBERNETES_VALIDATE, "--strict", "-k", GROUP_VARS["convex_kubernetes_version"], "-"],
                          input=json.dumps(service), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
