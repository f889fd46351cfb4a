# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing recorded colima output and the pure planning function."""

from __future__ import annotations

import os

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _colima

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'modules', 'fixtures', 'colima_talos')
VARIABLES = {k: 'colima_talos_' + k for k in ('state', 'cpus', 'memory', 'disk', 'arch', 'vm_type', 'runtime',
                                              'allow_restart', 'restart_confirm')}


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


def test_list_is_ndjson():
    profiles = _colima.parse_list(fixture('colima_list_json.ndjson'))
    assert sorted(profiles) == ['default', 'old', 'work']
    assert profiles['default']['cpus'] == 4 and profiles['work']['runtime'] == 'docker+k3s'
    current = _colima.observed(profiles['default'])
    assert (current['memory'], current['disk']) == (8.0, 100.0)


def test_list_rejects_an_array_and_garbage():
    with pytest.raises(_colima.ColimaOutputError):
        _colima.parse_list('not json\n')
    with pytest.raises(_colima.ColimaOutputError):
        _colima.parse_list('[{"name": "default"}]\n')
    assert _colima.parse_list('\n') == {}


def test_status_uses_other_field_names():
    status = _colima.parse_status(fixture('colima_status_json.json'))
    current = _colima.observed(_colima.parse_list(fixture('colima_list_json.ndjson'))['default'], status)
    assert current['vm_type'] == 'vz'
    assert current['docker_socket'] == 'unix:///Users/joel/.colima/default/docker.sock'
    with pytest.raises(_colima.ColimaOutputError):
        _colima.parse_status(fixture('colima_status_not_running.stderr'))


def test_version():
    assert _colima.parse_version(fixture('colima_version.txt')) == (0, 10, 3)
    assert _colima.parse_version('colima version v0.8.1') == (0, 8, 1)
    assert _colima.parse_version('garbage') is None


def test_version_of_a_head_build():
    """`brew install --HEAD colima` sets appVersion to Homebrew's `HEAD-<short sha>`; `make` uses git describe."""
    assert _colima.parse_version(fixture('colima_version_head.txt')) is None
    assert _colima.version_string(fixture('colima_version_head.txt')) == 'HEAD-490420d'
    assert _colima.version_string(fixture('colima_version.txt')) == '0.10.3'
    assert _colima.unreleased_build('HEAD-490420d') and _colima.unreleased_build('HEAD')
    assert _colima.unreleased_build('development') and _colima.unreleased_build('v0.10.3-12-g490420d')
    assert _colima.unreleased_build('490420d')  # git describe --always without tags
    assert not _colima.unreleased_build('0.10.3') and not _colima.unreleased_build('v0.8.0')
    assert _colima.version_string('garbage') is None


def test_config_dir_resolution(tmp_path):
    """config/files.go@v0.10.3: COLIMA_HOME only if it exists; ~/.colima; $XDG_CONFIG_HOME/colima; macOS ~/.colima."""
    home = str(tmp_path / 'home')
    colima_home = str(tmp_path / 'colima-home')
    os.makedirs(home)
    dot = os.path.join(home, '.colima')
    assert _colima.config_dir({'COLIMA_HOME': colima_home}, home, 'Darwin') == dot  # does not exist (yet)
    os.makedirs(colima_home)
    assert _colima.config_dir({'COLIMA_HOME': colima_home}, home, 'Darwin') == colima_home
    assert _colima.config_dir({'XDG_CONFIG_HOME': '/xdg'}, home, 'Darwin') == '/xdg/colima'
    # No ~/.config/colima on macOS without XDG_CONFIG_HOME, even when that directory exists.
    os.makedirs(os.path.join(home, '.config', 'colima'))
    assert _colima.config_dir({}, home, 'Darwin') == dot
    assert _colima.config_dir({}, home, 'Linux') == os.path.join(home, '.config', 'colima')  # os.UserConfigDir
    os.makedirs(dot)
    assert _colima.config_dir({'XDG_CONFIG_HOME': '/xdg'}, home, 'Darwin') == dot


def test_socket_and_profile_names():
    assert _colima.normalize_profile('colima-talos') == 'talos'
    assert _colima.docker_socket('default', '/h/.colima') == 'unix:///h/.colima/default/docker.sock'


def current(**overrides):
    base = {'exists': True, 'status': 'Running', 'arch': 'aarch64', 'cpus': 4, 'memory': 8.0, 'disk': 100.0,
            'runtime': 'docker', 'vm_type': 'vz'}
    base.update(overrides)
    return base


def desired(**overrides):
    base = {'state': 'running', 'cpus': 4, 'memory': 8, 'disk': 100, 'arch': None, 'vm_type': 'vz', 'runtime': 'docker'}
    base.update(overrides)
    return base


@pytest.mark.parametrize('cur,want,allow,actions', [
    ({'exists': False}, desired(), False, ['create']),
    (current(), desired(), False, []),
    (current(status='Stopped'), desired(cpus=6), False, ['start']),
    (current(), desired(cpus=6), True, ['stop', 'start']),
    (current(), desired(disk=200), True, ['stop', 'start']),
    (current(status='Broken'), desired(), False, ['recover', 'start']),
    (current(status='Broken'), desired(state='stopped'), False, ['recover']),
    (current(), desired(state='stopped'), False, ['stop']),
    (current(status='Stopped'), desired(state='stopped', cpus=8), False, []),
    (current(runtime='docker+k3s'), desired(), False, []),
])
def test_plan(cur, want, allow, actions):
    # An allowed restart is confirmed with the profile's name, as the role passes colima_talos_restart_confirm.
    decision = _colima.plan('default', want, cur, allow, VARIABLES, confirm='default' if allow else '')
    assert decision['errors'] == []
    assert decision['actions'] == actions


@pytest.mark.parametrize('cur,want,allow,needle', [
    (current(), desired(cpus=6), False, 'colima_talos_allow_restart'),
    (current(), desired(disk=50), True, 'colima_talos_disk=50'),
    (current(), desired(vm_type='qemu'), True, 'colima_talos_vm_type'),
    (current(), desired(arch='x86_64'), True, 'colima_talos_arch'),
    (current(), desired(runtime='incus'), True, 'colima_talos_runtime'),
    ({'exists': False}, desired(state='stopped'), False, 'colima_talos_state=running'),
])
def test_plan_refusals(cur, want, allow, needle):
    decision = _colima.plan('default', want, cur, allow, VARIABLES, confirm='default' if allow else '')
    assert decision['actions'] == []
    assert any(needle in error for error in decision['errors']), decision['errors']


@pytest.mark.parametrize('confirm', ['', 'Default', 'yes'])
def test_an_allowed_restart_without_the_profile_name_as_confirmation_is_refused(confirm):
    decision = _colima.plan('default', desired(cpus=6), current(), True, VARIABLES, confirm=confirm)
    assert decision['actions'] == []
    assert any('colima_talos_restart_confirm=default' in error for error in decision['errors']), decision['errors']
