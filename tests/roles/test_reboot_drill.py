# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/reboot-drill.yml with the real ansible-playbook and the variables in inventory files.

The drill itself needs the Mac (a person runs it there). Here: every refused setting stops it before any
connection or reboot, and a check-mode run (ansible.builtin.reboot does not reboot in check mode) goes the
whole path against this machine, where no Convex stack runs, so health never turns OK and the drill fails
saying so, with its timings: nothing reports success it did not see.
"""
from __future__ import annotations

import pytest

from playbook_runner import INVENTORY_HOST, ROOT, ansible_playbook_with_inventory, write_inventory

DRILL = ROOT / "playbooks" / "reboot-drill.yml"


@pytest.mark.parametrize("host_vars, extra, words", [
    ({"ansible_connection": "ssh"}, {}, "confirm with -e reboot_drill_confirm=%s (got '')" % INVENTORY_HOST),
    ({"ansible_connection": "ssh"}, {"reboot_drill_confirm": "other-mac"}, "(got 'other-mac')"),
    ({}, {"reboot_drill_confirm": INVENTORY_HOST}, "ansible_connection is 'local'"),
    ({"ansible_connection": "ssh"}, {"reboot_drill_confirm": INVENTORY_HOST, "reboot_drill_timeout": "soon"},
     "must be whole seconds above 0 (got soon"),
])
def test_a_refused_drill_stops_before_anything(tmp_path, host_vars, extra, words):
    # ansible_connection ssh to a host that does not exist: any task that connected would fail as unreachable.
    inventory = write_inventory(tmp_path, dict({"ansible_host": "203.0.113.1"}, **host_vars))
    run = ansible_playbook_with_inventory(tmp_path / "run", DRILL, inventory, extra_vars=extra)
    assert run.rc != 0, run.output
    text = " ".join(run.output.split())
    assert words in text and "Nothing was done." in text, run.output
    assert "UNREACHABLE" not in run.stdout and "TASK [Reboot the Mac" not in run.stdout


def test_check_mode_goes_the_whole_path_and_fails_on_real_health(tmp_path):
    inventory = write_inventory(tmp_path, {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False})
    run = ansible_playbook_with_inventory(tmp_path / "run", DRILL, inventory, check=True, extra_vars={
        "reboot_drill_confirm": INVENTORY_HOST, "reboot_drill_health_timeout": 1, "reboot_drill_health_delay": 1,
        "reboot_drill_probe_timeout": 1})
    assert run.rc != 0, run.output
    text = " ".join(run.stdout.split())
    assert "TASK [Reboot the Mac and wait until it answers again.]" in run.stdout
    assert "host back after " in text and " s after the host was back" in text and "total " in text, run.output
    assert "health FAIL" in text
    assert "The stack did not turn OK within 1 s of the Mac answering" in text
