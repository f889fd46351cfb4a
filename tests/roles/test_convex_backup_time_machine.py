# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backup keeps the state and backup directories (instance secret, admin key, backup sets with
env sidecars holding every deployment variable in clear) out of Time Machine, with a fake tmutil.

The fake follows tmutil(8) (Apple's man page, macOS 14; read as quoted in
https://alexwlchan.net/til/2024/exclude-files-from-time-machine-with-tmutil/): `addexclusion item`
without -p adds a location-independent ("sticky") exclusion, an extended attribute on the item,
without root; `isexcluded item` reports the state. The output lines "[Excluded]    <path>" and
"[Included]    <path>" are from a user's transcript on macOS 10.15
(https://apple.stackexchange.com/questions/387003), not from Apple's source: guessed, listed in the
role README to check on the Mac. The exit status of addexclusion on a missing item (non-zero) is guessed.
"""
from __future__ import annotations

import json
import os
import stat

import yaml

from playbook_runner import ROOT

GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())

FAKE_TMUTIL = r'''#!/usr/bin/env python3
import json, os, sys
state = os.environ.get("FAKE_TMUTIL_STATE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "tmutil.json")
data = json.load(open(state)) if os.path.exists(state) else {"excluded": [], "calls": []}
data["calls"].append(sys.argv[1:])
verb, items = sys.argv[1], sys.argv[2:]
rc = 0
for item in items:
    if not os.path.exists(item):
        sys.stderr.write("%s: No such file or directory\n" % item)
        rc = 1
        continue
    path = os.path.realpath(item)
    if verb == "isexcluded":
        print("[%s]    %s" % ("Excluded" if path in data["excluded"] else "Included", path))
    elif verb == "addexclusion":
        if path not in data["excluded"]:
            data["excluded"].append(path)
    else:
        sys.stderr.write("fake tmutil: verb %s not modelled\n" % verb)
        rc = 2
json.dump(data, open(state, "w"))
sys.exit(rc)
'''

PLAY = """
- hosts: localhost
  gather_facts: true
  tasks:
    - name: Exclude the state from Time Machine as the role does on macOS.
      ansible.builtin.include_role:
        name: joelclaw.macmini.convex_backup
        tasks_from: time_machine.yml
"""


def setup(tmp_path):
    fake = tmp_path / "bin" / "tmutil"
    fake.parent.mkdir()
    fake.write_text(FAKE_TMUTIL)
    fake.chmod(0o755)
    state = tmp_path / "home" / ".joelclaw"
    (state / "backups").mkdir(parents=True, mode=0o700)
    (state / "backups" / "snapshot.env.json").write_text('{"JWKS": "secret"}')
    host_vars = {"convex_state_dir": str(state), "convex_backup_dir": str(state / "backups"),
                 "convex_backup_tmutil": str(fake)}
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "main.yml").write_text((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(host_vars))
    return state, tmp_path / "bin" / "tmutil.json"


def test_state_dir_is_excluded_from_time_machine_once(run_playbook, tmp_path):
    state, record = setup(tmp_path)
    first = run_playbook(PLAY, {}, check=False)
    assert first.rc == 0, first.output
    data = json.loads(record.read_text())
    assert os.path.realpath(state) in data["excluded"]
    # Sticky exclusions only (no -p: that needs root and pins a path, not the directory).
    assert all(call[0] != "addexclusion" or "-p" not in call for call in data["calls"])
    assert first.recap()["changed"] == 1, first.output
    again = run_playbook(PLAY, {}, check=False)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.output
    assert [c for c in json.loads(record.read_text())["calls"] if c[0] == "addexclusion"] == \
        [c for c in data["calls"] if c[0] == "addexclusion"]


def test_check_mode_changes_nothing(run_playbook, tmp_path):
    # ansible.builtin.command skips in check mode; the read-only isexcluded runs (check_mode: false).
    _state, record = setup(tmp_path)
    run = run_playbook(PLAY, {}, check=True)
    assert run.rc == 0, run.output
    data = json.loads(record.read_text())
    assert data["excluded"] == [] and [c[0] for c in data["calls"]] == ["isexcluded", "isexcluded"]


def test_role_excludes_on_macos_by_default():
    defaults = yaml.safe_load((ROOT / "roles" / "convex_backup" / "defaults" / "main.yml").read_text())
    assert defaults["convex_backup_time_machine_exclude"] is True
    tasks = yaml.safe_load((ROOT / "roles" / "convex_backup" / "tasks" / "main.yml").read_text())
    included = [t for t in tasks if t.get("ansible.builtin.include_tasks") == "time_machine.yml"]
    assert included and "ansible_facts['system'] == 'Darwin'" in included[0]["when"]
    assert stat.S_ISREG(os.stat(ROOT / "roles" / "convex_backup" / "tasks" / "time_machine.yml").st_mode)
