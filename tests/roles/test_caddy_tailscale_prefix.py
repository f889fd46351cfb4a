# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""caddy_tailscale_homebrew_prefix follows the machine fact, and says so when facts are missing (as
colima_talos_bin_dir does) instead of failing on a bare 'has no attribute' error."""
from __future__ import annotations

import platform

from playbook_runner import ROOT

PLAY = """
- hosts: localhost
  gather_facts: {facts}
  gather_subset: [min]
  vars_files:
    - {root}/roles/caddy_tailscale/defaults/main.yml
  tasks:
    - name: Show the prefix.
      ansible.builtin.debug:
        msg: "prefix={{{{ caddy_tailscale_homebrew_prefix }}}}"
"""


def test_without_facts_the_play_stops_with_the_variable_named(run_playbook):
    run = run_playbook(PLAY.format(facts="false", root=ROOT))
    assert run.rc != 0
    assert "caddy_tailscale_homebrew_prefix follows the machine fact" in run.output, run.output


def test_with_facts_the_prefix_follows_the_machine(run_playbook):
    run = run_playbook(PLAY.format(facts="true", root=ROOT))
    assert run.rc == 0, run.output
    expected = "/opt/homebrew" if platform.machine() == "arm64" else "/usr/local"
    assert "prefix=%s" % expected in run.stdout, run.stdout
