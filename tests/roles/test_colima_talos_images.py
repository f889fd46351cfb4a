# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""colima_talos takes the local-path images as IMAGE:TAG, optionally followed by one sha256 digest.

Real ansible-playbook on this (Linux) machine: the check runs before the role looks at the OS, so
bad input is refused here as on the Mac, and good input goes on to the role's "macOS only" ending.
The images are set in host_vars beside the play, as an inventory sets them. A sha256 digest is 64
lowercase hex (opencontainers/go-digest@137fd2bb algorithm.go, hexDigestRegex); the tag grammar is
distribution/reference@0965666a regexp.go.
"""
from __future__ import annotations

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook

PLAY = """
- name: Converge colima_talos.
  hosts: localhost
  gather_facts: true
  roles:
    - role: joelclaw.macmini.colima_talos
"""
DIGEST = "sha256:" + "0123456789abcdef" * 4
PROVISIONER = "docker.io/rancher/local-path-provisioner:v0.0.31"
HELPER = "docker.io/library/busybox:1.37.0"


def converge(tmp_path, **images):
    workdir = tmp_path / "run"
    (workdir / "host_vars").mkdir(parents=True)
    (workdir / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(images))
    # The contract every role reads, as the repository's inventory provides it.
    (workdir / "group_vars" / "all").mkdir(parents=True)
    (workdir / "group_vars" / "all" / "main.yml").write_text((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    return ansible_playbook(workdir, PLAY)


def test_images_pinned_by_tag_and_digest_are_accepted(tmp_path):
    run = converge(tmp_path, colima_talos_local_path_image=PROVISIONER + "@" + DIGEST,
                   colima_talos_local_path_helper_image=HELPER + "@" + DIGEST)
    assert run.rc == 0, run.output
    assert "colima_talos manages macOS only" in run.output


BAD = {
    "63 hex": ("colima_talos_local_path_image", PROVISIONER + "@sha256:" + "0" * 63),
    "upper-case hex": ("colima_talos_local_path_image", PROVISIONER + "@sha256:" + "A" * 64),
    "two digests": ("colima_talos_local_path_helper_image", HELPER + "@" + DIGEST + "@" + DIGEST),
    "digest without tag": ("colima_talos_local_path_helper_image", "docker.io/library/busybox@" + DIGEST),
    "latest with digest": ("colima_talos_local_path_helper_image", "docker.io/library/busybox:latest@" + DIGEST),
    "no tag": ("colima_talos_local_path_image", "docker.io/rancher/local-path-provisioner"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_image_pins_are_refused_before_anything_else(tmp_path, case):
    variable, image = BAD[case]
    run = converge(tmp_path, **{variable: image})
    assert run.rc != 0, run.output
    assert "%s is '%s'; expected IMAGE:TAG or IMAGE:TAG@sha256:" % (variable, image) in run.output, run.output
    assert "Read the operating system" not in run.output
