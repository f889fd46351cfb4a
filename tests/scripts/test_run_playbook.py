# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operator targets (make health/backup/restore/restore-verify/upgrade, converge, check) and
scripts/run-playbook behind them: which playbook, which inventory, --ask-vault-pass when a vault
exists, and the restore confirmation.

The script runs for real with ANSIBLE_PLAYBOOK pointing at a fake that records its argv and exits
0; the Makefile's wiring is read from `make -n` (GNU make prints the recipe without running it).
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(REPO, 'scripts', 'run-playbook')
SHA = '652b828b5129e6cdbcaa3c20efa8d116d09ff3bf'
# The header `ansible-vault encrypt` writes (ansible lib/ansible/parsing/vault/__init__.py,
# format_vaulttext_envelope: b_HEADER "$ANSIBLE_VAULT", version 1.1, cipher AES256).
VAULT_FILE = '$ANSIBLE_VAULT;1.1;AES256\n6162636465660a\n'
VAULT_INLINE = 'vault_secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162636465660a\n'


@pytest.fixture
def world(tmp_path):
    """A fake ansible-playbook, an inventory directory laid out like the sample's, a clean env."""
    log = tmp_path / 'argv.jsonl'
    fake = tmp_path / 'ansible-playbook'
    fake.write_text('#!%s\nimport json, sys\nwith open(%r, "a") as f:\n    f.write(json.dumps(sys.argv[1:]) + "\\n")\n'
                    % (sys.executable, str(log)))
    fake.chmod(0o755)
    inv = tmp_path / 'inv'
    (inv / 'host_vars' / 'joelclaw-mini').mkdir(parents=True)
    (inv / 'hosts.yml').write_text('all:\n  hosts:\n    joelclaw-mini:\n')
    env = {'PATH': os.environ['PATH'], 'HOME': str(tmp_path), 'ANSIBLE_PLAYBOOK': str(fake),
           'INVENTORY': str(inv / 'hosts.yml')}

    class World:
        pass
    w = World()
    w.inv, w.env, w.log = inv, env, log

    def run(*args, stdin=subprocess.DEVNULL, **extra_env):
        e = dict(env, **extra_env)
        proc = subprocess.run(['bash', SCRIPT] + list(args), env=e, stdin=stdin, capture_output=True, text=True,
                              timeout=30, check=False)
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return proc, calls
    w.run = run
    return w


def test_each_verb_runs_its_playbook_with_the_inventory(world):
    inv = str(world.inv / 'hosts.yml')
    expected = {
        'converge': ['-i', inv, 'site.yml', '--tags', 'phase0'],
        'check': ['-i', inv, 'site.yml', '--check', '--diff', '--tags', 'phase0'],
        'health': ['-i', inv, 'playbooks/health.yml', '--tags', 'phase0'],
        'backup': ['-i', inv, 'playbooks/backup.yml', '--tags', 'phase0'],
    }
    for verb, argv in expected.items():
        world.log.unlink(missing_ok=True)
        proc, calls = world.run(verb, '--tags', 'phase0')
        assert proc.returncode == 0, proc.stderr
        assert calls == [argv], verb
        assert '--ask-vault-pass' not in proc.stderr


@pytest.mark.parametrize('where,content', [
    ('host_vars/joelclaw-mini/vault.yml', VAULT_FILE),
    ('host_vars/joelclaw-mini/main.yml', VAULT_INLINE),
    ('group_vars/all/vault', VAULT_FILE),
])
def test_a_vault_in_the_inventory_adds_ask_vault_pass(world, where, content):
    path = world.inv / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    proc, calls = world.run('health')
    assert proc.returncode == 0, proc.stderr
    assert calls == [['-i', str(world.inv / 'hosts.yml'), 'playbooks/health.yml', '--ask-vault-pass']]
    assert str(path) in proc.stderr


@pytest.mark.parametrize('args,env', [
    (['--vault-password-file', '/dev/null'], {}),
    (['--vault-id=@prompt'], {}),
    (['--ask-vault-pass'], {}),
    ([], {'ANSIBLE_VAULT_PASSWORD_FILE': '/dev/null'}),
])
def test_a_given_vault_password_source_is_not_doubled(world, args, env):
    (world.inv / 'host_vars' / 'joelclaw-mini' / 'vault.yml').write_text(VAULT_FILE)
    proc, calls = world.run('backup', *args, **env)
    assert proc.returncode == 0, proc.stderr
    assert calls == [['-i', str(world.inv / 'hosts.yml'), 'playbooks/backup.yml'] + args]


def test_an_inventory_in_the_arguments_wins(world, tmp_path):
    other = tmp_path / 'other'
    (other / 'host_vars' / 'h').mkdir(parents=True)
    (other / 'hosts.yml').write_text('all: {}\n')
    (other / 'host_vars' / 'h' / 'vault.yml').write_text(VAULT_FILE)
    proc, calls = world.run('health', '-i', str(other / 'hosts.yml'))
    assert proc.returncode == 0, proc.stderr
    assert calls == [['playbooks/health.yml', '--ask-vault-pass', '-i', str(other / 'hosts.yml')]]


def test_default_inventory_is_the_sample_and_a_missing_one_is_refused(world):
    env = {k: v for k, v in world.env.items() if k != 'INVENTORY'}
    proc = subprocess.run(['bash', SCRIPT, 'health'], env=env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    expected = 'inventory/local.yml' if os.path.exists(os.path.join(REPO, 'inventory', 'local.yml')) else 'inventory/hosts.yml'
    assert json.loads(world.log.read_text().splitlines()[-1])[:2] == ['-i', expected], proc.stderr
    proc, _calls = world.run('health', INVENTORY=str(world.inv / 'nope.yml'))
    assert proc.returncode == 2 and 'does not exist' in proc.stderr


def test_restore_needs_a_backup_and_a_confirmation(world):
    proc, calls = world.run('restore')
    assert proc.returncode == 2 and 'BACKUP=latest' in proc.stderr and calls == []
    # stdin is not a terminal and CONFIRM is unset: refused, nothing run
    proc, calls = world.run('restore', BACKUP='latest')
    assert proc.returncode == 2 and 'CONFIRM=' in proc.stderr and calls == []
    proc, calls = world.run('restore', BACKUP='latest', CONFIRM='joelclaw')
    assert proc.returncode == 0, proc.stderr
    assert calls == [['-i', str(world.inv / 'hosts.yml'), 'playbooks/restore.yml',
                      '-e', 'convex_restore_backup=latest', '-e', 'convex_restore_confirm=joelclaw']]


def test_restore_asks_for_the_instance_name_on_a_terminal(world):
    master, slave = pty.openpty()
    try:
        os.write(master, b'joelclaw\n')
        proc, calls = world.run('restore', stdin=slave, BACKUP='snapshot_joelclaw_1.zip')
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, proc.stderr
    assert 'replaces ALL data' in proc.stderr and 'Type the instance name' in proc.stderr
    assert calls[-1][-2:] == ['-e', 'convex_restore_confirm=joelclaw']


def test_restore_verify_and_upgrade(world):
    proc, calls = world.run('restore-verify', BACKUP='latest')
    assert proc.returncode == 0, proc.stderr
    assert calls == [['-i', str(world.inv / 'hosts.yml'), 'playbooks/restore.yml', '-e', 'convex_restore_backup=latest',
                      '--check']]
    proc, _calls = world.run('upgrade')
    assert proc.returncode == 2 and 'SHA=' in proc.stderr
    proc, calls = world.run('upgrade', SHA=SHA)
    assert calls[-1] == ['-i', str(world.inv / 'hosts.yml'), 'playbooks/upgrade.yml', '-e', 'convex_upgrade_sha=' + SHA]


@pytest.mark.skipif(shutil.which('make') is None, reason='GNU make is not installed')
def test_make_targets_call_the_script():
    """`make -n` prints each target's recipe (run outside any outer make's MAKEFLAGS)."""
    env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS')}
    for target in ('converge', 'check', 'health', 'backup', 'restore', 'restore-verify', 'upgrade'):
        out = subprocess.run(['make', '-n', target, 'PLAYBOOK_ARGS=-v'], cwd=REPO, capture_output=True, text=True,
                             env=env, check=True).stdout
        assert 'bash scripts/run-playbook %s -v' % target in out, out
        assert 'ANSIBLE_PLAYBOOK=' in out


@pytest.mark.skipif(shutil.which('make') is None, reason='GNU make is not installed')
def test_make_passes_its_variables_to_the_script(world, tmp_path):
    """make upgrade SHA=... / restore BACKUP=... CONFIRM=... / INVENTORY=... reach the playbook (a real make
    run; -o keeps the bootstrap targets from running, VENV points at the fake ansible-playbook)."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    shutil.copy(world.env['ANSIBLE_PLAYBOOK'], str(venv / 'bin' / 'ansible-playbook'))
    env = {'PATH': os.environ['PATH'], 'HOME': str(tmp_path)}
    inv = str(world.inv / 'hosts.yml')
    for args, argv in (
            (['upgrade', 'SHA=' + SHA], ['-i', inv, 'playbooks/upgrade.yml', '-e', 'convex_upgrade_sha=' + SHA]),
            (['restore', 'BACKUP=latest', 'CONFIRM=joelclaw'],
             ['-i', inv, 'playbooks/restore.yml', '-e', 'convex_restore_backup=latest', '-e', 'convex_restore_confirm=joelclaw'])):
        subprocess.run(['make', '-s', '-o', 'venv', '-o', 'collections', 'VENV=' + str(venv), 'INVENTORY=' + inv] + args,
                       cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
        assert json.loads(world.log.read_text().splitlines()[-1]) == argv
