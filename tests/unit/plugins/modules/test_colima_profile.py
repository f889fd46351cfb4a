# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""colima_profile against a stateful fake colima: every transition, its check-mode twin, its re-run."""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.joelclaw.macmini.plugins.modules import colima_profile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'fakebin'))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position

GIB = 1024 ** 3
MUTATING = ('start', 'stop', 'delete')


@pytest.fixture
def world(tmp_path, monkeypatch):
    return macos_clis.World(tmp_path, monkeypatch)


def run(capsys, check=False, diff=False, **params):
    args = dict(params)
    args['_ansible_check_mode'] = check
    args['_ansible_diff'] = diff
    warnings._global_warnings.clear()  # pylint: disable=protected-access  # per process, not per run
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            colima_profile.main()
    return json.loads(capsys.readouterr().out)


def mutations(world):
    return [c['args'] for c in world.calls('colima') if c['args'][0] in MUTATING]


def test_create_then_noop(world, capsys):
    desired = dict(name='default', cpus=4, memory=8, disk=100, vm_type='vz')
    check = run(capsys, check=True, **desired)
    assert check['changed'] is True
    assert mutations(world) == []
    assert world.state()['profiles'] == {}

    result = run(capsys, **desired)
    assert result['changed'] is True
    assert result['actions'] == [check['actions'][0]]
    assert '--vm-type vz' in result['actions'][0] and '--runtime docker' in result['actions'][0]
    profile = world.state()['profiles']['default']
    assert (profile['status'], profile['cpus'], profile['memory'], profile['disk'], profile['vm_type']) == \
        ('Running', 4, 8 * GIB, 100 * GIB, 'vz')
    assert result['profile']['vm_type'] == 'vz'
    assert result['docker_host'] == world.docker_host()

    world.clear_calls()
    again = run(capsys, **desired)
    again_check = run(capsys, check=True, **desired)
    assert again['changed'] is False and again_check['changed'] is False
    assert mutations(world) == []


def test_running_resize_refused_without_allow_restart(world, capsys):
    world.add_profile(cpus=4, memory_gib=8)
    for check in (True, False):
        result = run(capsys, check=check, cpus=6, memory=12, disk=100)
        assert result['failed'] is True
        assert 'allow_restart=true' in result['msg']
        assert 'cpus 4 -> 6' in result['msg'] and 'memory 8 GiB -> 12 GiB' in result['msg']
    assert mutations(world) == []
    assert world.state()['profiles']['default']['cpus'] == 4


def test_running_resize_restarts_when_allowed(world, capsys):
    world.add_profile(cpus=4, memory_gib=8, disk_gib=100)
    desired = dict(cpus=6, memory=12, disk=120, allow_restart=True)
    for confirm in ('', 'Default', 'other'):  # allow_restart alone, or a confirmation that is not the name
        refused = run(capsys, restart_confirm=confirm, **desired)
        assert refused['failed'] is True and 'restart_confirm=default' in refused['msg']
        assert mutations(world) == []
    desired['restart_confirm'] = 'default'
    check = run(capsys, check=True, diff=True, **desired)
    assert check['changed'] is True and mutations(world) == []
    assert check['diff']['before']['cpus'] == 4 and check['diff']['after']['cpus'] == 6

    result = run(capsys, **desired)
    assert result['changed'] is True
    assert [a[0] for a in mutations(world)] == ['stop', 'start']
    assert result['actions'] == check['actions']
    profile = world.state()['profiles']['default']
    assert (profile['cpus'], profile['memory'], profile['disk']) == (6, 12 * GIB, 120 * GIB)

    world.clear_calls()
    assert run(capsys, **desired)['changed'] is False
    assert mutations(world) == []


def test_memory_compared_in_bytes_not_rounded(world, capsys):
    world.add_profile(memory_gib=8)
    assert run(capsys, cpus=4, memory=8.0, disk=100)['changed'] is False
    assert run(capsys, cpus=4, memory=8.5, disk=100)['failed'] is True


def test_stopped_vm_starts_with_new_resources_without_restart_permission(world, capsys):
    world.add_profile(status='Stopped', cpus=2, memory_gib=4)
    assert run(capsys, check=True, cpus=4, memory=8, disk=100)['changed'] is True
    assert mutations(world) == []
    result = run(capsys, cpus=4, memory=8, disk=100)
    assert result['changed'] is True
    assert [a[0] for a in mutations(world)] == ['start']
    assert '--vm-type' not in mutations(world)[0]  # fixed at creation: never re-sent
    profile = world.state()['profiles']['default']
    assert (profile['status'], profile['cpus'], profile['memory']) == ('Running', 4, 8 * GIB)


@pytest.mark.parametrize('status', ['Running', 'Stopped'])
def test_smaller_disk_is_an_error(world, capsys, status):
    world.add_profile(status=status, disk_gib=100)
    for check in (True, False):
        result = run(capsys, check=check, cpus=4, memory=8, disk=60, allow_restart=True)
        assert result['failed'] is True
        assert 'disk=60' in result['msg'] and 'can only grow' in result['msg']
        assert '100' in result['msg']
    assert mutations(world) == []


@pytest.mark.parametrize('status', ['Running', 'Stopped'])
@pytest.mark.parametrize('change,variable', [
    ({'vm_type': 'qemu'}, "vm_type='qemu' was requested"),
    ({'arch': 'x86_64'}, "arch='x86_64' was requested"),
    ({'runtime': 'containerd'}, "runtime='containerd' was requested"),
])
def test_fixed_settings_are_refused(world, capsys, status, change, variable):
    world.add_profile(status=status)
    params = dict(cpus=4, memory=8, disk=100, allow_restart=True)
    params.update(change)
    for check in (True, False):
        result = run(capsys, check=check, **params)
        assert result['failed'] is True
        assert variable in result['msg'] and 'colima delete' in result['msg']
    assert mutations(world) == []


def test_broken_vm_is_recovered(world, capsys):
    world.add_profile(status='Broken')
    check = run(capsys, check=True, cpus=4, memory=8, disk=100)
    assert check['changed'] is True and mutations(world) == []
    result = run(capsys, cpus=4, memory=8, disk=100)
    assert result['changed'] is True
    assert mutations(world) == [['stop', 'default', '--force'], result['actions'][1].split()[1:]]
    assert world.state()['profiles']['default']['status'] == 'Running'


def test_state_stopped(world, capsys):
    world.add_profile(status='Running')
    refused = run(capsys, state='stopped', cpus=4, memory=8, disk=100)
    assert refused['failed'] is True and 'restart_confirm=default' in refused['msg']
    assert mutations(world) == []
    stop = dict(state='stopped', cpus=4, memory=8, disk=100, restart_confirm='default')
    assert run(capsys, check=True, **stop)['changed'] is True
    assert mutations(world) == []
    assert run(capsys, **stop)['changed'] is True
    assert world.state()['profiles']['default']['status'] == 'Stopped'
    world.clear_calls()
    assert run(capsys, state='stopped', cpus=4, memory=8, disk=100)['changed'] is False
    assert mutations(world) == []


def test_state_stopped_never_creates(world, capsys):
    result = run(capsys, state='stopped')
    assert result['failed'] is True and 'state=stopped' in result['msg']


def test_status_error_after_reboot_does_not_break_the_run(world, capsys):
    # abiosoft/colima#1169: `colima status` fails while `colima list` says Running.
    world.add_profile()
    world.edit(lambda s: s['profiles']['default'].__setitem__('status_error', True))
    result = run(capsys, cpus=4, memory=8, disk=100)
    assert result['changed'] is False
    assert result['docker_host'] == world.docker_host()
    assert result['profile']['vm_type'] == 'vz'  # read from colima.yaml instead


def test_named_profile_uses_its_own_socket(world, capsys):
    result = run(capsys, name='colima-talos', cpus=2, memory=4, disk=50)
    assert result['changed'] is True
    assert 'talos' in world.state()['profiles']
    assert result['docker_host'] == world.docker_host('talos')


def test_old_colima_is_refused(world, capsys):
    world.edit(lambda s: s.__setitem__('colima_version', '0.7.5'))
    result = run(capsys)
    assert result['failed'] is True and '0.8.1' in result['msg'] and 'brew upgrade colima' in result['msg']


def test_bad_value_names_the_variable(world, capsys):
    result = run(capsys, cpus=0)
    assert result['failed'] is True and 'cpus=0' in result['msg']


def test_missing_binary(world, capsys, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    result = run(capsys)
    assert result['failed'] is True and 'colima' in result['msg'] and 'Homebrew' in result['msg']


@pytest.mark.parametrize('version', ['HEAD-490420d', 'HEAD'])
def test_homebrew_head_build_is_accepted(world, capsys, version):
    """`brew install --HEAD colima` prints `colima version HEAD-<sha>` (the formula's ldflags use #{version})."""
    world.edit(lambda s: s.__setitem__('colima_version', version))
    result = run(capsys, name='default', cpus=2, memory=2, disk=100)
    assert result.get('failed') is not True, result.get('msg')
    assert result['changed'] is True and result['version'] == version
    assert any('unreleased' in json.dumps(w) for w in result.get('warnings', []))


def test_unknown_version_text_is_still_refused(world, capsys):
    world.edit(lambda s: s.__setitem__('colima_version', ''))
    result = run(capsys)
    assert result['failed'] is True and 'unknown version' in result['msg'] and mutations(world) == []


def modprobes(world):
    return [c['args'] for c in world.calls('colima') if c['args'][0] == 'ssh' and 'modprobe' in c['args']]


def colima_yaml(world, name='default'):
    with open(os.path.join(world.colima_home, name, 'colima.yaml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def test_kernel_modules_are_loaded_now_and_at_every_boot(world, capsys):
    """br_netfilter: flannel in the Talos node fails without it (Talos 1.12 docker guide); Colima does not load it."""
    desired = dict(name='default', cpus=2, memory=2, disk=100, kernel_modules=['br_netfilter'])
    world.add_profile(cpus=2, memory_gib=2)
    path = os.path.join(world.colima_home, 'default', 'colima.yaml')
    check = run(capsys, check=True, **desired)
    assert check['changed'] is True and modprobes(world) == [] and colima_yaml(world)['provision'] == []
    assert check['actions'] == ['colima ssh --profile default -- sudo modprobe br_netfilter',
                                'add provision entries to %s: modprobe br_netfilter' % path]
    result = run(capsys, **desired)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']
    assert colima_yaml(world)['provision'] == [{'mode': 'system', 'script': 'modprobe br_netfilter'}]
    world.clear_calls()
    assert run(capsys, **desired)['changed'] is False and modprobes(world) == []

    # A VM restart by hand: Colima keeps the entry when it saves colima.yaml, Lima runs it while booting.
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default', '--cpus', '2')
    assert colima_yaml(world)['provision'] == [{'mode': 'system', 'script': 'modprobe br_netfilter'}]
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']
    assert run(capsys, **desired)['changed'] is False


def test_fake_vm_forgets_modules_loaded_by_hand(world, capsys):
    """Guards the test above: without the provision entry a restart loses the module (it is not the fake's default)."""
    world.add_profile(cpus=2, memory_gib=2)
    world.run('colima', 'ssh', '--profile', 'default', '--', 'sudo', 'modprobe', 'br_netfilter')
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert world.state()['profiles']['default']['modules'] == []
    desired = dict(name='default', cpus=2, memory=2, disk=100, kernel_modules=['br_netfilter'])
    result = run(capsys, **desired)
    assert result['actions'][0] == 'colima ssh --profile default -- sudo modprobe br_netfilter'


def test_kernel_modules_on_a_new_vm_are_loaded_after_the_create(world, capsys):
    desired = dict(name='default', cpus=2, memory=2, disk=100, kernel_modules=['br_netfilter'])
    check = run(capsys, check=True, **desired)
    result = run(capsys, **desired)
    assert result['actions'] == check['actions'] and len(result['actions']) == 3
    assert result['actions'][0].startswith('colima start default')
    assert result['actions'][1] == 'colima ssh --profile default -- sudo modprobe br_netfilter'
    assert world.state()['profiles']['default']['modules'] == ['br_netfilter']
    assert colima_yaml(world)['provision'] == [{'mode': 'system', 'script': 'modprobe br_netfilter'}]
    assert colima_yaml(world)['cpu'] == 2  # the rest of what colima saved is kept
    assert run(capsys, **desired)['changed'] is False


def test_kernel_module_that_does_not_load_fails_clearly(world, capsys):
    world.add_profile(cpus=2, memory_gib=2)
    result = run(capsys, name='default', cpus=2, memory=2, disk=100, kernel_modules=['no_such_module'])
    assert result['failed'] is True and 'no_such_module' in result['msg'] and 'kernel_modules' in result['msg']
    assert colima_yaml(world)['provision'] == []  # Lima would report the failing script at every boot


def test_kernel_module_names_are_checked_before_any_change(world, capsys):
    result = run(capsys, name='default', kernel_modules=['br_netfilter; rm -rf /'])
    assert result['failed'] is True and 'kernel_modules contains' in result['msg'] and world.calls() == []


# What `iptables -S DOCKER-USER` must start with: DNS to the Lima gateway (the VM's resolver) allowed, everything
# else from containers to it rejected. The last rule is dockerd's own.
GUARD = ['-A DOCKER-USER -d 192.168.5.2/32 -p udp -m udp --dport 53 -j RETURN',
         '-A DOCKER-USER -d 192.168.5.2/32 -p tcp -m tcp --dport 53 -j RETURN',
         '-A DOCKER-USER -d 192.168.5.2/32 -j REJECT --reject-with icmp-port-unreachable']


def docker_user(world):
    done = world.run('colima', 'ssh', '--profile', 'default', '--', 'sudo', 'iptables', '-S', 'DOCKER-USER')
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_containers_are_kept_off_the_lima_host_address_now_and_at_every_boot(world, capsys):
    desired = dict(name='default', cpus=2, memory=2, disk=100, kernel_modules=['br_netfilter'],
                   block_host_access=True)
    world.add_profile(cpus=2, memory_gib=2)
    assert docker_user(world) == ['-N DOCKER-USER', '-A DOCKER-USER -j RETURN']  # what dockerd leaves: no guard
    check = run(capsys, check=True, **desired)
    assert check['changed'] is True and docker_user(world) == ['-N DOCKER-USER', '-A DOCKER-USER -j RETURN']
    result = run(capsys, **desired)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert 'colima ssh --profile default -- sudo sh -c <DOCKER-USER rules>' in result['actions']
    assert docker_user(world) == ['-N DOCKER-USER'] + GUARD + ['-A DOCKER-USER -j RETURN']
    assert run(capsys, **desired)['changed'] is False
    assert run(capsys, check=True, **desired)['changed'] is False

    # A VM restart by hand drops every rule; Lima runs the provision entry while the VM boots.
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert docker_user(world) == ['-N DOCKER-USER'] + GUARD + ['-A DOCKER-USER -j RETURN']
    assert run(capsys, **desired)['changed'] is False

    # Rules in the wrong order (DNS rejected) are put back in order.
    world.run('colima', 'ssh', '--profile', 'default', '--', 'sudo', 'iptables', '-D', 'DOCKER-USER',
              '-d', '192.168.5.2/32', '-p', 'udp', '--dport', '53', '-j', 'RETURN')
    world.run('colima', 'ssh', '--profile', 'default', '--', 'sudo', 'iptables', '-A', 'DOCKER-USER',
              '-d', '192.168.5.2/32', '-p', 'udp', '--dport', '53', '-j', 'RETURN')
    assert run(capsys, **desired)['changed'] is True
    assert docker_user(world) == ['-N DOCKER-USER'] + GUARD + ['-A DOCKER-USER -j RETURN']


def test_a_new_vm_is_guarded_before_anything_runs_in_it(world, capsys):
    desired = dict(name='default', cpus=2, memory=2, disk=100, block_host_access=True)
    result = run(capsys, **desired)
    assert result['actions'][0].startswith('colima start default')
    assert result['actions'][1] == 'colima ssh --profile default -- sudo sh -c <DOCKER-USER rules>'
    assert docker_user(world) == ['-N DOCKER-USER'] + GUARD + ['-A DOCKER-USER -j RETURN']
    assert [e['mode'] for e in colima_yaml(world)['provision']] == ['system']
    assert run(capsys, **desired)['changed'] is False


def test_fake_vm_forgets_iptables_rules_at_boot(world, capsys):
    """Guards the tests above: without the provision entry a restart loses the rules."""
    world.add_profile(cpus=2, memory_gib=2)
    world.run('colima', 'ssh', '--profile', 'default', '--', 'sudo', 'iptables', '-I', 'DOCKER-USER', '1',
              '-d', '192.168.5.2/32', '-j', 'REJECT')
    assert GUARD[2] in docker_user(world)
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert docker_user(world) == ['-N DOCKER-USER', '-A DOCKER-USER -j RETURN']


HOME_WRITABLE = [{'location': '~', 'writable': True}]


def test_a_new_profile_mounts_nothing_from_the_mac(world, capsys):
    """Colima mounts $HOME writable when no --mount is given; the privileged Talos node would reach ~/.joelclaw."""
    desired = dict(name='default', cpus=2, memory=2, disk=100, mounts=[])
    check = run(capsys, check=True, **desired)
    result = run(capsys, **desired)
    assert result['actions'] == check['actions'] and '--mount none' in result['actions'][0]
    assert world.state()['profiles']['default']['active_mounts'] == []
    assert colima_yaml(world)['mounts'] is None and result['mounts'] == []
    assert run(capsys, **desired)['changed'] is False


def test_an_existing_profile_with_home_writable_is_converged(world, capsys):
    world.add_profile(cpus=2, memory_gib=2)
    assert world.state()['profiles']['default']['active_mounts'] == HOME_WRITABLE  # Colima's default
    desired = dict(name='default', cpus=2, memory=2, disk=100, mounts=[])
    refused = run(capsys, **desired)
    assert refused['failed'] is True and 'mounts ~ (writable) -> none' in refused['msg']
    assert 'allow_restart=true' in refused['msg'] and mutations(world) == []

    check = run(capsys, check=True, allow_restart=True, restart_confirm='default', **desired)
    result = run(capsys, allow_restart=True, restart_confirm='default', **desired)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert [a.split()[:2] for a in result['actions']] == [['colima', 'stop'], ['colima', 'start']]
    assert world.state()['profiles']['default']['active_mounts'] == []
    assert run(capsys, **desired)['changed'] is False

    # Colima keeps the list when it is started without --mount (a reboot, the login agent).
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert world.state()['profiles']['default']['active_mounts'] == []


def test_a_stopped_profile_starts_with_the_mount_list(world, capsys):
    world.add_profile(cpus=2, memory_gib=2, status='Stopped')
    result = run(capsys, name='default', cpus=2, memory=2, disk=100, mounts=['/opt/share:/mnt/share'])
    assert '--mount /opt/share:/mnt/share' in result['actions'][0]
    assert world.state()['profiles']['default']['active_mounts'] == [
        {'location': '/opt/share', 'mountPoint': '/mnt/share', 'writable': False}]
    assert result['mounts'] == [{'location': '/opt/share', 'mountPoint': '/mnt/share', 'writable': False}]


@pytest.mark.parametrize('value', ['/Users/joel:w', '/Users/joel:/mnt:w', 'relative', '/a b', '/x%n', '/a:b:c'])
def test_writable_or_odd_mounts_are_refused_before_any_change(world, capsys, value):
    result = run(capsys, name='default', mounts=[value])
    assert result['failed'] is True and 'mounts contains' in result['msg'] and world.calls() == []


# ---------------------------------------------------------------- adoption (issue 17)

def test_an_adopted_profile_is_verified_and_left_as_it_is(world, capsys):
    world.add_profile(cpus=2, memory_gib=4)  # the owner's: Colima's defaults, $HOME mounted
    desired = dict(cpus=4, memory=8, disk=100, mounts=[], adopt=True, kernel_modules=['br_netfilter'])
    check = run(capsys, check=True, **desired)
    result = run(capsys, **desired)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert result['differences'] == ['cpus 2 -> 4', 'memory 4 GiB -> 8 GiB']
    assert any('left as it is: cpus 2 -> 4' in json.dumps(w) for w in result.get('warnings', []))
    assert mutations(world) == []  # loading br_netfilter is all it did
    profile = world.state()['profiles']['default']
    assert (profile['status'], profile['cpus'], profile['modules']) == ('Running', 2, ['br_netfilter'])
    assert run(capsys, **desired)['changed'] is False


def test_a_stopped_adopted_profile_starts_with_its_own_configuration(world, capsys):
    world.add_profile(status='Stopped', cpus=2, memory_gib=4)
    result = run(capsys, cpus=4, memory=8, disk=100, mounts=[], adopt=True)
    assert mutations(world) == [['start', 'default']] and result['changed'] is True
    assert world.state()['profiles']['default']['cpus'] == 2


def test_a_broken_adopted_profile_is_stopped_only_with_the_confirmation(world, capsys):
    world.add_profile(status='Broken')
    refused = run(capsys, adopt=True)
    assert refused['failed'] is True and 'restart_confirm=default' in refused['msg']
    assert 'colima stop --force default' in refused['msg'] and mutations(world) == []
    assert run(capsys, adopt=True, restart_confirm='default')['changed'] is True
    assert [a[0] for a in mutations(world)] == ['stop', 'start']


def test_adopting_a_missing_profile_creates_nothing(world, capsys):
    for check in (True, False):
        result = run(capsys, check=check, adopt=True)
        assert result['failed'] is True and 'does not exist' in result['msg']
    assert world.calls('colima') and mutations(world) == [] and world.state()['profiles'] == {}


@pytest.mark.parametrize('change', [dict(disk=60), dict(vm_type='qemu'), dict(arch='x86_64')])
def test_refusals_name_the_consequences_and_a_backup(world, capsys, change):
    """No message suggests `colima delete` (or `--data`) without "after a backup" and what it deletes."""
    world.add_profile()
    result = run(capsys, **dict(dict(cpus=4, memory=8, disk=100), **change))
    assert result['failed'] is True and 'colima delete' in result['msg']
    assert 'Only after a backup' in result['msg'] and 'Redis, Qdrant and Inngest' in result['msg']
    assert 'lost for good' in result['msg'] and mutations(world) == []


def test_diff_of_a_create_is_the_same_in_check_mode_and_for_real(world, capsys):
    """The manager's difference tracker: check mode predicts the diff the real run reports."""
    desired = dict(cpus=4, memory=8, disk=100, mounts=[])
    check = run(capsys, check=True, diff=True, **desired)
    assert check['changed'] is True and mutations(world) == []
    assert check['diff']['before']['exists'] is False and check['diff']['after']['exists'] is True
    assert (check['diff']['after']['status'], check['diff']['after']['cpus'], check['diff']['after']['memory']) == (
        'Running', 4, 8.0)
    result = run(capsys, diff=True, **desired)
    assert result['changed'] is True and result['diff'] == check['diff']
    again = run(capsys, diff=True, **desired)
    assert again['changed'] is False and again['diff']['before'] == again['diff']['after']
    assert again['diff']['after']['mounts'] == []


def test_diff_of_a_stop_shows_the_status_and_nothing_else(world, capsys):
    world.add_profile(cpus=4, memory_gib=8)
    stop = dict(state='stopped', cpus=4, memory=8, disk=100, restart_confirm='default')
    check = run(capsys, check=True, diff=True, **stop)
    assert world.state()['profiles']['default']['status'] == 'Running'
    before, after = check['diff']['before'], check['diff']['after']
    assert (before['status'], after['status']) == ('Running', 'Stopped')
    assert [key for key in before if before[key] != after[key]] == ['status']
    assert run(capsys, diff=True, **stop)['diff'] == check['diff']
