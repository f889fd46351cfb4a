# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bootstrap finds a Python >= 3.11 (scripts/find-python) and the Makefile builds .venv from it.

Each test runs the real script (and, for the Makefile, real GNU make) with a PATH that holds only
the fakes of tests/scripts/fakes/bootstrap_clis.py and the few tools the recipes call, so the test
machine's own pythons cannot answer in place of the fakes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, 'fakes'))

import bootstrap_clis  # noqa: E402  pylint: disable=wrong-import-position

FIND_PYTHON = os.path.join(REPO, 'scripts', 'find-python')
TOOLS = ('bash', 'sh', 'touch', 'env', 'rm', 'mkdir', 'cat')


class World:
    """A PATH with fakes only, and the log of the calls they got."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        for tool in TOOLS:
            os.symlink(shutil.which(tool), str(self.bin / tool))
        self.log = str(tmp_path / 'calls.jsonl')
        self.env = {'PATH': str(self.bin), 'HOME': str(tmp_path), 'FIND_PYTHON_BREW_PREFIXES': str(tmp_path / 'nobrew')}

    def python3(self, version):
        return bootstrap_clis.fake_python(str(self.bin / 'python3'), version, self.log)

    def brew(self, formulas):
        """A Homebrew prefix with python@3.X (version per formula) and `brew` on PATH."""
        prefix = self.tmp / 'homebrew'
        for formula, version in formulas.items():
            minor = formula.split('@')[1]
            bootstrap_clis.fake_python(str(prefix / 'opt' / formula / 'bin' / ('python' + minor)), version, self.log)
        bootstrap_clis.write_wrapper(str(self.bin / 'brew'), 'brew', {'FAKE_BREW_PREFIX': str(prefix), 'FAKE_LOG': self.log})
        return prefix

    def uv(self):
        root = self.tmp / 'uv-python'
        bootstrap_clis.write_wrapper(str(self.bin / 'uv'), 'uv', {'FAKE_UV_ROOT': str(root), 'FAKE_LOG': self.log})
        return root

    def calls(self, role=None):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding='utf-8') as handle:
            rows = [json.loads(line) for line in handle]
        return [row for row in rows if role is None or row['role'] == role]

    def run(self, args, **extra):
        env = dict(self.env, **extra)
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)

    def find(self, **extra):
        return self.run(['bash', FIND_PYTHON], **extra)


@pytest.fixture(name='world')
def world_fixture(tmp_path):
    return World(tmp_path)


def test_python39_only_is_refused_with_the_fix(world):
    world.python3('3.9.6')
    result = world.find()
    assert result.returncode == 1, result
    assert result.stdout == ''
    assert 'python3 on PATH: %s is Python 3.9.6' % (world.bin / 'python3') in result.stderr
    assert 'brew install python@3.13' in result.stderr
    assert 'uv' in result.stderr
    assert 'Traceback' not in result.stderr


def test_homebrew_python313_is_chosen_over_python39(world):
    world.python3('3.9.6')
    prefix = world.brew({'python@3.13': '3.13.5', 'python@3.12': '3.12.11'})
    result = world.find()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(prefix / 'opt' / 'python@3.13' / 'bin' / 'python3.13')
    assert [call['argv'] for call in world.calls('brew')] == [['--prefix']]


def test_homebrew_default_prefix_is_searched_without_brew_on_path(world):
    world.python3('3.9.6')
    prefix = world.tmp / 'opt-homebrew'
    bootstrap_clis.fake_python(str(prefix / 'opt' / 'python@3.12' / 'bin' / 'python3.12'), '3.12.11', world.log)
    result = world.find(FIND_PYTHON_BREW_PREFIXES='%s %s' % (world.tmp / 'usr-local', prefix))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(prefix / 'opt' / 'python@3.12' / 'bin' / 'python3.12')


def test_python_override_older_than_311_is_refused(world):
    old = bootstrap_clis.fake_python(str(world.tmp / 'old' / 'python3.9'), '3.9.6', world.log)
    world.brew({'python@3.13': '3.13.5'})
    result = world.find(PYTHON=old)
    assert result.returncode == 1, result
    assert result.stdout == ''
    assert 'PYTHON=%s is Python 3.9.6' % old in result.stderr
    assert 'brew install python@3.13' in result.stderr


def test_python_override_that_does_not_exist_is_refused(world):
    result = world.find(PYTHON=str(world.tmp / 'missing' / 'python3'))
    assert result.returncode == 1
    assert 'is not an executable' in result.stderr


def test_python_override_new_enough_wins_over_homebrew(world):
    own = bootstrap_clis.fake_python(str(world.tmp / 'own' / 'python3.12'), '3.12.1', world.log)
    world.brew({'python@3.13': '3.13.5'})
    result = world.find(PYTHON=own)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == own


def test_uv_downloads_a_managed_python_when_it_finds_none(world):
    world.python3('3.9.6')
    root = world.uv()
    result = world.find()
    assert result.returncode == 0, result.stderr
    managed = str(root / 'cpython-3.13.5-macos-aarch64-none' / 'bin' / 'python3.13')
    assert result.stdout.strip() == managed
    assert [call['argv'] for call in world.calls('uv')] == [
        ['python', 'find', '--no-project', '--system', '>=3.11'],
        ['python', 'install', '3.13'],
        ['python', 'find', '--no-project', '--system', '>=3.11'],
    ]


def test_uv_found_python_is_used_without_a_download(world):
    root = world.uv()
    bootstrap_clis.fake_python(str(root / 'cpython-3.13.5-macos-aarch64-none' / 'bin' / 'python3.13'), '3.13.5', world.log)
    result = world.find()
    assert result.returncode == 0, result.stderr
    assert [call['argv'][:2] for call in world.calls('uv')] == [['python', 'find']]


def test_real_python_311_on_path_is_chosen(world):
    real = os.path.realpath(sys.executable)
    if sys.version_info < (3, 11):
        pytest.skip('the test interpreter is older than 3.11')
    os.symlink(real, str(world.bin / 'python3'))
    result = world.find()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(world.bin / 'python3')
    assert 'Python %d.%d' % sys.version_info[:2] in result.stderr


# ---------------------------------------------------------------- through the Makefile

def _make(world, venv, **extra):
    make = shutil.which('make')
    if make is None:
        pytest.skip('GNU make is not installed')
    env = dict(extra)
    env['MAKEFLAGS'] = ''
    env['MAKELEVEL'] = ''
    return world.run([make, '-C', REPO, '--no-print-directory', 'venv', 'VENV=%s' % venv], **env)


def _pyvenv_version(venv):
    with open(os.path.join(venv, 'pyvenv.cfg'), encoding='utf-8') as handle:
        for line in handle:
            key, _sep, value = line.partition('=')
            if key.strip() == 'version':
                return value.strip()
    return None


def test_make_venv_refuses_python39_before_creating_anything(world):
    world.python3('3.9.6')
    venv = str(world.tmp / 'venv')
    result = _make(world, venv)
    assert result.returncode != 0, result.stdout + result.stderr
    assert 'brew install python@3.13' in result.stderr
    assert not os.path.exists(venv)
    assert [call['argv'] for call in world.calls('python') if call['argv'][:1] == ['-m']] == []


def test_make_venv_builds_from_homebrew_python(world):
    world.python3('3.9.6')
    world.brew({'python@3.13': '3.13.5'})
    venv = str(world.tmp / 'venv')
    result = _make(world, venv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _pyvenv_version(venv) == '3.13.5'
    assert os.path.exists(os.path.join(venv, 'bin', 'ansible-playbook'))


def test_make_venv_rebuilds_a_venv_made_from_python39(world):
    world.python3('3.9.6')
    venv = str(world.tmp / 'venv')
    # What the old bootstrap left on a stock Mac: a venv from the Command Line Tools' 3.9, stamped.
    assert world.run([str(world.bin / 'python3'), '-m', 'venv', venv]).returncode == 0
    with open(os.path.join(venv, 'bin', 'ansible-playbook'), 'w', encoding='utf-8'):
        pass
    world.brew({'python@3.13': '3.13.5'})
    result = _make(world, venv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'rebuilding %s' % venv in result.stderr
    assert _pyvenv_version(venv) == '3.13.5'
    venv_calls = [call['argv'] for call in world.calls('python') if call['argv'][:2] == ['-m', 'venv']]
    assert venv_calls[-1] == ['-m', 'venv', '--clear', venv]
