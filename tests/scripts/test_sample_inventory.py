# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sample inventory lists every setting the collection reads (issue 17): each option of every
role's meta/argument_specs.yml (all entry points) and each variable of the contract in
roles/contract/defaults/main.yml must appear in inventory/hosts.yml as a host variable, active or commented
out. A role that gains an option fails here until the sample names it.
"""

from __future__ import annotations

import glob
import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SAMPLE = os.path.join(REPO, 'inventory', 'hosts.yml')
HOST = 'joelclaw-mini'


def settings_the_collection_reads():
    names = {}
    for path in sorted(glob.glob(os.path.join(REPO, 'roles', '*', 'meta', 'argument_specs.yml'))):
        with open(path, encoding='utf-8') as handle:
            specs = yaml.safe_load(handle)['argument_specs']
        for entry_point, spec in specs.items():
            for option in (spec.get('options') or {}):
                names.setdefault(option, '%s (%s)' % (os.path.relpath(path, REPO), entry_point))
    with open(os.path.join(REPO, 'roles', 'contract', 'defaults', 'main.yml'), encoding='utf-8') as handle:
        for name in yaml.safe_load(handle):
            names.setdefault(name, 'roles/contract/defaults/main.yml')
    return names


def host_level_names(text):
    """Names set at the host's variable level: `<indent>name:` or `<indent># name:`, where <indent>
    is the indentation of the host's first variable."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == HOST + ':')
    indent = None
    names = set()
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        if indent is None:
            indent = len(line) - len(line.lstrip())
        if len(line) - len(line.lstrip()) < indent:
            break
        match = re.match(r'^ {%d}(?:# )?([a-z_][a-z0-9_]*):(?: |$)' % indent, line)
        if match:
            names.add(match.group(1))
    return names


def test_the_sample_inventory_parses_and_names_the_one_host():
    with open(SAMPLE, encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    host = data['all']['children']['macmini']['hosts'][HOST]
    assert host['ansible_connection'] == 'local'
    assert host['convex_tailnet_hostname'].endswith('.ts.net')


def test_every_setting_the_collection_reads_is_in_the_sample_inventory():
    wanted = settings_the_collection_reads()
    assert len(wanted) > 150, 'the argument specs were not found: %d names' % len(wanted)
    with open(SAMPLE, encoding='utf-8') as handle:
        listed = host_level_names(handle.read())
    missing = sorted(set(wanted) - listed)
    assert not missing, 'inventory/hosts.yml does not list (add each, commented with its default):\n' + '\n'.join(
        '  %s  (from %s)' % (name, wanted[name]) for name in missing)


def test_the_drift_check_reads_commented_and_active_lines_at_the_host_level_only():
    text = ('all:\n  hosts:\n    %s:\n      active_one: 1\n      # commented_one: 2\n'
            '      #   nested_in_a_comment: 3\n      deep:\n        nested_key: 4\n'
            '      # prose mentioning fake_name: here\n' % HOST)
    assert host_level_names(text) == {'active_one', 'commented_one', 'deep'}
