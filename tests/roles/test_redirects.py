# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The old plugin names (issue 13, "Names that explain themselves") still resolve through the
plugin_routing redirects of meta/runtime.yml, with a deprecation warning naming the new name.

One real ansible-playbook run (connection local) uses each old name once.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from playbook_runner import ansible_playbook

ROOT = Path(__file__).resolve().parents[2]

PLAY = """
- name: Use the old plugin names.
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The instance secret module under its old name.
      joelclaw.macmini.convex_k8s_instance_secret:
        state_file: "{{ playbook_dir }}/secret"
      no_log: true
    - name: The Caddy site plan module under its old name.
      joelclaw.macmini.caddy_sites:
        sites: [{name: api, host: mini.example.ts.net, tls: tailscale, reach: tailnet, upstream: "127.0.0.1:3210"}]
      register: _redirect_plan
    - name: The filters under their old names.
      ansible.builtin.assert:
        that:
          - "'quay.io/x/y:abc' | joelclaw.macmini.convex_k8s_image_tag == 'abc'"
          - "'' | joelclaw.macmini.convex_k8s_migration_status is mapping"
          - "{'spec': {}} | joelclaw.macmini.convex_k8s_immutable_changes({}) == []"
          - "'a' | joelclaw.macmini.convex_k8s_version_check('a', {}) == ''"
          - "{} | joelclaw.macmini.convex_k8s_version_record('a') is mapping"
          - _redirect_plan.sites[0].name == 'api'
"""

FILTERS = ("convex_k8s_image_tag", "convex_k8s_migration_status", "convex_k8s_immutable_changes",
           "convex_k8s_version_check", "convex_k8s_version_record")


def test_old_names_redirect_with_a_deprecation(tmp_path):
    run = ansible_playbook(tmp_path, PLAY)
    assert run.rc == 0, run.output
    assert (tmp_path / "secret").stat().st_size > 0
    flat = " ".join(run.output.split())
    assert "convex_k8s_instance_secret has been deprecated" in flat, run.output
    assert "joelclaw.macmini.convex_instance_secret" in flat, run.output
    assert "caddy_sites has been deprecated" in flat and "joelclaw.macmini.caddy_site_plan" in flat, run.output
    for old in FILTERS:
        assert 'Filter "joelclaw.macmini.' + old + '" has been deprecated' in flat, (old, run.output)
        assert "joelclaw.macmini." + old.replace("_k8s_", "_") in flat, (old, run.output)


def test_every_redirect_is_deprecated_for_1_0_0():
    routing = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["plugin_routing"]
    entries = [(kind, name, entry) for kind, plugins in routing.items() for name, entry in plugins.items()]
    assert entries
    for kind, name, entry in entries:
        assert entry["redirect"].startswith("joelclaw.macmini."), (kind, name)
        assert entry["deprecation"]["removal_version"] == "1.0.0", (kind, name)
