# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launchd script of the colima_talos role, run with bash against the fake colima and docker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'fakebin'))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position

SCRIPT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'colima_talos', 'files',
                      'colima-talos-boot.sh')


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = macos_clis.World(tmp_path, monkeypatch)
    world.add_profile()
    state_dir = os.path.join(world.root, 'talos')
    result = world.run('talosctl', 'cluster', 'create', 'docker', '--name', 'joelclaw', '--workers', '1',
                       '--state', state_dir, '--talosconfig-destination', os.path.join(world.root, 'talosconfig'),
                       DOCKER_HOST=world.docker_host(), KUBECONFIG=os.path.join(world.root, 'kubeconfig'))
    assert result.returncode == 0, result.stderr
    return world


def boot(world):
    # The arguments the launchd agent passes (templates/colima-talos.plist.j2 with the role defaults).
    return subprocess.run(['bash', SCRIPT, 'default', 'joelclaw', world.docker_host(), 'br_netfilter'],
                          capture_output=True, text=True, check=False)


def node_states(world):
    return {n: c['state'] for n, c in world.state()['containers'].items()}


def test_vm_and_nodes_come_back_after_a_restart(world):
    world.run('colima', 'stop', 'default')
    assert set(node_states(world).values()) == {'exited'}
    world.clear_calls()
    result = boot(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert world.state()['profiles']['default']['status'] == 'Running'
    assert set(node_states(world).values()) == {'running'}
    starts = [c['args'][1] for c in world.calls('docker') if c['args'][0] == 'start']
    assert starts == ['joelclaw-controlplane-1', 'joelclaw-worker-1']
    # br_netfilter is gone after every VM boot; it is loaded again before any node starts.
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']
    order = [(c['tool'], c['args'][0]) for c in world.calls() if c['args'][0] in ('ssh', 'start')]
    assert order.index(('colima', 'ssh')) < order.index(('docker', 'start'))


def test_br_netfilter_is_loaded_even_when_nothing_else_is_needed(world):
    world.edit(lambda s: s['profiles']['default'].__setitem__('modules', []))
    result = boot(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']


def test_broken_vm_is_force_stopped_first(world):
    world.run('colima', 'stop', 'default')
    world.edit(lambda s: s['profiles']['default'].__setitem__('status', 'Broken'))
    result = boot(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ['stop', 'default', '--force'] in [c['args'] for c in world.calls('colima')]
    assert set(node_states(world).values()) == {'running'}


def test_nothing_to_do_when_everything_runs(world):
    world.clear_calls()
    result = boot(world)
    assert result.returncode == 0 and result.stdout == ''
    assert [c['args'][0] for c in world.calls('colima')] == ['status', 'ssh']
    assert not [c for c in world.calls('docker') if c['args'][0] == 'start']


def test_missing_profile_fails_loudly(world):
    world.edit(lambda s: s['profiles'].clear())
    result = boot(world)
    assert result.returncode == 1 and 'does not exist' in result.stdout
