# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""colima_talos takes the local-path images as IMAGE:TAG, optionally followed by one sha256 digest.

Real ansible-playbook on this (Linux) machine: the check runs before the role looks at the OS, so
bad input is refused here as on the Mac, and good input goes on to the role's "macOS only" ending.
The images are set in host_vars, as an inventory sets them: every case is one inventory host of one
ansible-playbook run (each fails or passes on its own). A sha256 digest is 64
lowercase hex (opencontainers/go-digest@137fd2bb algorithm.go, hexDigestRegex); the tag grammar is
distribution/reference@0965666a regexp.go.
"""
from __future__ import annotations

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook_hosts, failure_of, host_name, tasks_of

PLAY = """
- name: Converge colima_talos.
  hosts: all
  gather_facts: true
  roles:
    - role: joelclaw.macmini.colima_talos
"""
DIGEST = "sha256:" + "0123456789abcdef" * 4
PROVISIONER = "docker.io/rancher/local-path-provisioner:v0.0.31"
HELPER = "docker.io/library/busybox:1.37.0"


BAD = {
    "63 hex": ("colima_talos_local_path_image", PROVISIONER + "@sha256:" + "0" * 63),
    "upper-case hex": ("colima_talos_local_path_image", PROVISIONER + "@sha256:" + "A" * 64),
    "two digests": ("colima_talos_local_path_helper_image", HELPER + "@" + DIGEST + "@" + DIGEST),
    "digest without tag": ("colima_talos_local_path_helper_image", "docker.io/library/busybox@" + DIGEST),
    "latest with digest": ("colima_talos_local_path_helper_image", "docker.io/library/busybox:latest@" + DIGEST),
    "no tag": ("colima_talos_local_path_image", "docker.io/rancher/local-path-provisioner"),
}


GOOD = {"colima_talos_local_path_image": PROVISIONER + "@" + DIGEST,
        "colima_talos_local_path_helper_image": HELPER + "@" + DIGEST}


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    hosts = {host_name(case): {variable: image} for case, (variable, image) in BAD.items()}
    assert len(hosts) == len(BAD) and "tag-and-digest" not in hosts
    hosts["tag-and-digest"] = GOOD
    # The contract every role reads, as the repository's inventory provides it.
    contract = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    return ansible_playbook_hosts(tmp_path_factory.mktemp("colima-images"), PLAY, hosts, group_vars=contract)


def test_images_pinned_by_tag_and_digest_are_accepted(converged):
    assert converged.recap("tag-and-digest")["failed"] == 0, converged.output
    assert any("manages macOS only" in task for task in tasks_of(converged, "tag-and-digest")), converged.output


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_image_pins_are_refused_before_anything_else(converged, case):
    host = host_name(case)
    variable, image = BAD[case]
    message = failure_of(converged, host)
    assert "%s is '%s'; expected IMAGE:TAG or IMAGE:TAG@sha256:" % (variable, image) in message, converged.output
    assert not any("Read the operating system" in task for task in tasks_of(converged, host)), tasks_of(converged, host)
