# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_image_available against the fake `docker` of tests/unit/fakebin/docker_images.py
(manifest inspect and pull, as docker/cli and moby answer them; the fake cites where)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.joelclaw.macmini.plugins.modules import docker_image_available

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'fakebin'))
import docker_images  # noqa: E402  pylint: disable=wrong-import-position

SHA = '652b828b5129e6cdbcaa3c20efa8d116d09ff3bf'
OLD = '94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731'
BACKEND = 'ghcr.io/get-convex/convex-backend:'
DASHBOARD = 'ghcr.io/get-convex/convex-dashboard:'
BOTH = ['linux/amd64', 'linux/arm64']


class Registry:
    def __init__(self, tmp_path, monkeypatch, images):
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        docker_images.install(self.bin)
        # colima v0.10.3 config/files.go uses $COLIMA_HOME only when that directory exists.
        self.colima_home = tmp_path / 'colima'
        self.colima_home.mkdir()
        self.socket = 'unix://%s/default/docker.sock' % self.colima_home
        self.path = tmp_path / 'registry.json'
        self.path.write_text(json.dumps({'images': images, 'daemon_host': self.socket}))
        monkeypatch.setenv('FAKE_DOCKER_IMAGES', str(self.path))
        monkeypatch.setenv('COLIMA_HOME', str(self.colima_home))
        monkeypatch.setenv('PATH', str(self.bin) + os.pathsep + os.environ.get('PATH', ''))
        monkeypatch.delenv('DOCKER_HOST', raising=False)

    def calls(self):
        return json.loads(self.path.read_text()).get('calls', [])


@pytest.fixture
def registry(tmp_path, monkeypatch):
    return Registry(tmp_path, monkeypatch, {BACKEND + SHA: BOTH, DASHBOARD + SHA: BOTH,
                                            BACKEND + 'amd64only': ['linux/amd64']})


def test_release_tip_is_available_through_colimas_socket(registry, run_module):
    result = run_module(docker_image_available, {'images': [BACKEND + SHA, DASHBOARD + SHA]})
    assert not result.get('failed'), result
    assert result['changed'] is False and result['missing'] == []
    assert [i['platforms'] for i in result['images']] == [BOTH, BOTH]
    # The socket of the default Colima profile, as colima_talos uses it.
    assert result['docker_host'] == registry.socket
    assert [c['argv'][:2] for c in registry.calls()] == [['manifest', 'inspect']] * 2
    assert {c['docker_host'] for c in registry.calls()} == {registry.socket}


def test_a_main_commit_is_refused_naming_the_tag(registry, run_module):
    result = run_module(docker_image_available, {'images': [BACKEND + OLD, DASHBOARD + OLD]}, check_mode=True)
    assert result['failed'] is True
    assert result['missing'] == [BACKEND + OLD, DASHBOARD + OLD]
    assert '2 of 2 images cannot be pulled' in result['msg']
    assert 'tag %s' % OLD in result['msg']
    assert 'no such manifest: %s%s' % (BACKEND, OLD) in result['msg']


def test_a_tag_without_arm64_is_refused(registry, run_module):
    result = run_module(docker_image_available, {'images': [BACKEND + 'amd64only']})
    assert result['failed'] is True
    assert 'offers linux/amd64, not linux/arm64' in result['msg']


def test_pull_goes_through_the_daemon_and_reports_a_change(registry, run_module, tmp_path):
    result = run_module(docker_image_available, {'images': [BACKEND + SHA], 'method': 'pull'})
    assert result['changed'] is True and result['missing'] == []
    assert registry.calls()[-1]['argv'] == ['pull', BACKEND + SHA]
    # Check mode never pulls: it reads the manifest instead.
    check = run_module(docker_image_available, {'images': [BACKEND + SHA], 'method': 'pull'}, check_mode=True)
    assert check['changed'] is False and registry.calls()[-1]['argv'][:2] == ['manifest', 'inspect']
    # Another profile's socket has no daemon: the error says where it looked.
    down = run_module(docker_image_available, {'images': [BACKEND + SHA], 'method': 'pull', 'colima_profile': 'other'})
    assert down['failed'] is True
    assert 'Cannot connect to the Docker daemon at unix://%s/other/docker.sock' % (tmp_path / 'colima') in down['msg']


def test_pull_of_a_missing_tag_fails(registry, run_module):
    result = run_module(docker_image_available, {'images': [DASHBOARD + OLD], 'method': 'pull'})
    assert result['failed'] is True and result['missing'] == [DASHBOARD + OLD]
    assert 'manifest for %s%s not found' % (DASHBOARD, OLD) in result['msg']


@pytest.mark.parametrize('params, message', [
    ({'images': ['ghcr.io/get-convex/convex-backend']}, 'have no tag'),
    ({'images': []}, 'images is empty'),
    ({'images': [BACKEND + SHA], 'platform': 'arm64'}, 'expected os/architecture'),
])
def test_bad_input_fails_before_running_docker(registry, run_module, params, message):
    result = run_module(docker_image_available, params)
    assert result['failed'] is True and message in result['msg']
    assert registry.calls() == []


def test_no_docker_cli_is_a_clear_error(registry, run_module, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    monkeypatch.setattr(docker_image_available, 'HOMEBREW_BIN_DIRS', ['/nonexistent-homebrew'])
    result = run_module(docker_image_available, {'images': [BACKEND + SHA]})
    assert result['failed'] is True and 'docker CLI was not found' in result['msg']
