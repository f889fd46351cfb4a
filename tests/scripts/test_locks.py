# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python package locks (requirements*.lock, written by `make lock`) and how the Makefile uses them.

pip's hash-checking mode (pip 25.3 docs, "Secure installs" / "Hash-checking mode"): with
`--require-hashes` every requirement must be pinned with `==` and carry `--hash=sha256:...`, and a
downloaded file whose digest is not among them is refused. `--only-binary :all:` keeps sdists (and
their build scripts) out. These tests check that the locks are in that form, that they say what the
inputs say, and that `make venv` installs nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, 'fakes'))

import bootstrap_clis  # noqa: E402  pylint: disable=wrong-import-position

# input -> lock, as the Makefile's `lock` target writes them.
LOCKS = {
    'requirements-pip.txt': 'requirements-pip.lock',
    'requirements-piptools.txt': 'requirements-piptools.lock',
    'requirements.txt': 'requirements.lock',
    'requirements-test.txt': 'requirements-test.lock',
}
HASH = re.compile(r'--hash=sha256:([0-9a-f]{64})$')
PIN = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)$')


def _canon(name):
    # PEP 503 normalised name: what pip compares.
    return re.sub(r'[-_.]+', '-', name).lower()


def _logical_lines(path):
    """The lines of a requirements file with comments dropped and `\\` continuations joined."""
    with open(os.path.join(REPO, path), encoding='utf-8') as handle:
        text = handle.read()
    text = text.replace('\\\n', ' ')
    for raw in text.splitlines():
        line = raw.split(' #', 1)[0].strip() if not raw.lstrip().startswith('#') else ''
        if line:
            yield line


def parse_lock(path):
    """{name: (version, {sha256, ...})} and the global options of a lock."""
    entries, options = {}, []
    for line in _logical_lines(path):
        if line.startswith('-'):
            options.append(line)
            continue
        words = line.split()
        match = PIN.match(words[0])
        assert match, '%s: %r is not pinned with ==' % (path, words[0])
        hashes = set()
        for word in words[1:]:
            found = HASH.match(word)
            assert found, '%s: %s has %r where only --hash=sha256:<64 hex> belongs' % (path, words[0], word)
            hashes.add(found.group(1))
        entries[_canon(match.group(1))] = (match.group(3), hashes)
    return entries, options


def parse_input(path):
    """{name: version} of the `==` pins of an input file, following `-r` includes."""
    pins = {}
    for line in _logical_lines(path):
        if line.startswith('-r '):
            pins.update(parse_input(os.path.join(os.path.dirname(path), line[3:].strip())))
            continue
        match = PIN.match(line.split(';', 1)[0].strip())
        assert match, '%s: %r is not pinned with ==' % (path, line)
        pins[_canon(match.group(1))] = match.group(3)
    return pins


@pytest.mark.parametrize('lock', sorted(LOCKS.values()))
def test_lock_pins_every_package_by_hash_and_takes_wheels_only(lock):
    entries, options = parse_lock(lock)
    assert entries, '%s holds no package' % lock
    assert '--only-binary :all:' in options, '%s lacks --only-binary :all: (options: %r)' % (lock, options)
    unhashed = sorted(name for name, (_version, hashes) in entries.items() if not hashes)
    assert not unhashed, '%s: no --hash for %s' % (lock, ', '.join(unhashed))


@pytest.mark.parametrize('source,lock', sorted(LOCKS.items()))
def test_lock_says_what_its_input_says(source, lock):
    wanted = parse_input(source)
    entries, _options = parse_lock(lock)
    stale = sorted('%s: %s asks %s, %s has %s' % (name, source, version, lock, entries.get(name, ('nothing',))[0])
                   for name, version in wanted.items() if entries.get(name, (None,))[0] != version)
    assert not stale, 'run `make lock`: ' + '; '.join(stale)


def test_test_lock_holds_the_controller_lock_unchanged():
    # The test venv is the controller venv plus the test tools: one version and one set of
    # hashes per package, so tests run what the Mac runs.
    controller, _options = parse_lock('requirements.lock')
    test, _options = parse_lock('requirements-test.lock')
    differ = sorted(name for name, entry in controller.items() if test.get(name) != entry)
    assert not differ, 'requirements-test.lock disagrees with requirements.lock on: %s' % ', '.join(differ)


def test_lock_tools_use_the_pinned_pip():
    pip, _options = parse_lock('requirements-pip.lock')
    tools, _options = parse_lock('requirements-piptools.lock')
    assert list(pip) == ['pip']
    assert tools['pip'] == pip['pip']


# ---------------------------------------------------------------- the Makefile installs the locks

def _make(tmp_path, *targets):
    make = shutil.which('make')
    if make is None:
        pytest.skip('GNU make is not installed')
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for tool in ('bash', 'sh', 'touch', 'env', 'rm', 'mkdir', 'cat'):
        os.symlink(shutil.which(tool), str(bindir / tool))
    log = str(tmp_path / 'calls.jsonl')
    prefix = tmp_path / 'homebrew'
    bootstrap_clis.fake_python(str(prefix / 'opt' / 'python@3.13' / 'bin' / 'python3.13'), '3.13.5', log)
    env = {'PATH': str(bindir), 'HOME': str(tmp_path), 'FIND_PYTHON_BREW_PREFIXES': str(prefix),
           'MAKEFLAGS': '', 'MAKELEVEL': ''}
    venv = str(tmp_path / 'venv')
    result = subprocess.run([make, '-C', REPO, '--no-print-directory', 'VENV=%s' % venv]
                            + [target.format(venv=venv) for target in targets],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = []
    with open(log, encoding='utf-8') as handle:
        for line in handle:
            argv = json.loads(line)['argv']
            if argv[:2] == ['-m', 'pip']:
                calls.append(argv[2:])
    return calls


def test_make_venv_installs_pip_then_the_controller_lock_in_hash_checking_mode(tmp_path):
    calls = _make(tmp_path, 'venv', '{venv}/bin/molecule')
    strict = ['install', '--quiet', '--require-hashes', '--only-binary', ':all:']
    assert calls == [
        strict + ['-r', 'requirements-pip.lock'],
        strict + ['-r', 'requirements.lock'],
        strict + ['-r', 'requirements-test.lock'],
    ]


# ---------------------------------------------------------------- the controller lock on the Mac

@pytest.mark.parametrize('python', ['3.12', '3.13'])
def test_controller_lock_installs_on_macos_arm64(tmp_path, python):
    """Fetch every wheel the Mac's `make venv` would install, in hash-checking mode.

    Needs PyPI (the one index the project's machines reach). pip selects the macOS arm64 wheel of
    each package for CPython `python` and refuses one whose sha256 the lock does not list, so a lock
    written with only this machine's (Linux) hashes fails here.
    """
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'download', '--quiet', '--require-hashes', '--only-binary', ':all:',
         '--platform', 'macosx_14_0_arm64', '--implementation', 'cp', '--python-version', python,
         '--abi', 'cp' + python.replace('.', ''), '-r', 'requirements-pip.lock', '-r', 'requirements.lock',
         '-d', str(tmp_path / 'wheels')],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    wheels = sorted(os.listdir(str(tmp_path / 'wheels')))
    native = [name for name in wheels if 'macosx' in name]
    # PyYAML, MarkupSafe and cffi ship per-Python macOS wheels: one of each must have come.
    for project in ('pyyaml', 'markupsafe', 'cffi'):
        assert any(name.lower().startswith(project + '-') and 'cp%s' % python.replace('.', '') in name
                   for name in native), (project, wheels)
