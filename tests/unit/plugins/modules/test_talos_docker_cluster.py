# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""talos_docker_cluster against stateful fake colima/docker/talosctl."""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.joelclaw.macmini.plugins.modules import talos_docker_cluster

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'fakebin'))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position

IMAGE = 'ghcr.io/siderolabs/talos:v1.12.11'
PORTS = {'api': {'host_port': 3210, 'node_port': 30010}, 'site': {'host_port': 3211, 'node_port': 30011},
         'dashboard': {'host_port': 6791, 'node_port': 30012}}
PATCH = {'cluster': {'allowSchedulingOnControlPlanes': True}}


@pytest.fixture
def world(tmp_path, monkeypatch):
    world = macos_clis.World(tmp_path, monkeypatch)
    world.add_profile()
    return world


def params(world, **overrides):
    base = dict(name='joelclaw', image=IMAGE, kubernetes_version='v1.35.0', workers=0, published_ports=PORTS,
                host_ip='127.0.0.1', config_patches=[PATCH], docker_host=world.docker_host(),
                talosconfig=os.path.join(world.root, 'joelclaw', 'talosconfig'),
                kubeconfig=os.path.join(world.root, 'joelclaw', 'kubeconfig'),
                cluster_state_dir=os.path.join(world.root, 'talos-clusters'), kubeconfig_retries=1)
    base.update(overrides)
    return base


def run(capsys, world, check=False, diff=False, **overrides):
    args = params(world, **overrides)
    args['_ansible_check_mode'] = check
    args['_ansible_diff'] = diff
    warnings._global_warnings.clear()  # pylint: disable=protected-access  # per process, not per run
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            talos_docker_cluster.main()
    return json.loads(capsys.readouterr().out)


def warning_texts(result):
    return [json.dumps(w) for w in result.get('warnings', [])]


def writes(world):
    """Calls that change anything: creates, destroys, starts, kubeconfig downloads."""
    return [c for c in world.calls() if c['tool'] != 'colima' and (
        c['args'][:3] == ['cluster', 'create', 'docker'] or c['args'][:2] == ['cluster', 'destroy']
        or c['args'][:1] in (['start'], ['update']) or 'kubeconfig' in c['args'])]


def kube_servers(path):
    with open(path, encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    return {c['name']: c['cluster']['server'] for c in data['clusters']}


def contexts(path):
    with open(path, encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    found = data['contexts']
    return sorted(found) if isinstance(found, dict) else sorted(c['name'] for c in found)


def test_create_then_noop(world, capsys):
    p = params(world)
    check = run(capsys, world, check=True)
    assert check['changed'] is True and writes(world) == []
    assert not os.path.exists(p['talosconfig']) and world.state()['containers'] == {}

    result = run(capsys, world)
    assert result['changed'] is True and result['actions'] == check['actions']
    [create, update] = writes(world)
    assert update['args'] == ['update', '--restart', 'unless-stopped', 'joelclaw-controlplane-1']
    assert create['DOCKER_HOST'] == world.docker_host()  # talosctl ignores docker contexts
    assert create['KUBECONFIG'] == p['kubeconfig']
    args = create['args']
    assert args[args.index('--host-ip') + 1] == '127.0.0.1'
    assert args[args.index('--exposed-ports') + 1] == \
        '127.0.0.1:3210:30010/tcp,127.0.0.1:3211:30011/tcp,127.0.0.1:6791:30012/tcp'
    assert args[args.index('--workers') + 1] == '0'
    assert args[args.index('--kubernetes-version') + 1] == '1.35.0'
    assert json.loads(args[args.index('--config-patch') + 1]) == PATCH
    assert args[args.index('--talosconfig-destination') + 1] == p['talosconfig']
    assert [n['name'] for n in result['nodes']] == ['joelclaw-controlplane-1']
    assert result['controlplane_ip'] == '10.5.0.2'
    assert result['cluster']['KUBERNETES ENDPOINT'] == 'https://127.0.0.1:53211'
    assert contexts(p['talosconfig']) == ['joelclaw'] and contexts(p['kubeconfig']) == ['admin@joelclaw']
    assert oct(os.stat(p['kubeconfig']).st_mode & 0o777) == '0o600'
    assert kube_servers(p['kubeconfig']) == {'joelclaw': 'https://127.0.0.1:53211'}
    # --host-ip applies to talosctl's own API ports too (genPortMap fills DockerPortsHostIP).
    [node] = result['nodes']
    assert {b['container_port']: b['host_ip'] for b in node['port_bindings']} == {
        '6443/tcp': '127.0.0.1', '50000/tcp': '127.0.0.1', '30010/tcp': '127.0.0.1', '30011/tcp': '127.0.0.1',
        '30012/tcp': '127.0.0.1'}
    assert result['open_to_all_interfaces'] == [] and result.get('warnings', []) == []
    assert node['restart_policy'] == 'unless-stopped'

    world.clear_calls()
    assert run(capsys, world)['changed'] is False
    assert run(capsys, world, check=True)['changed'] is False
    assert writes(world) == []
    assert contexts(p['kubeconfig']) == ['admin@joelclaw']


def test_workers_are_created_and_counted(world, capsys):
    result = run(capsys, world, workers=2)
    assert [n['role'] for n in result['nodes']] == ['controlplane', 'worker', 'worker']
    assert run(capsys, world, workers=2)['changed'] is False


def test_docker_unreachable_names_docker_host(world, capsys):
    world.run('colima', 'stop', 'default')
    result = run(capsys, world)
    assert result['failed'] is True
    assert 'docker_host=' + world.docker_host() in result['msg'] and 'colima status' in result['msg']


def test_exited_nodes_are_started_after_a_vm_restart(world, capsys):
    run(capsys, world, workers=1, restart_policy='no')  # as clusters made before the policy was set
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert {c['state'] for c in world.state()['containers'].values()} == {'exited'}
    world.clear_calls()

    check = run(capsys, world, check=True, diff=True, workers=1, restart_policy='no')
    assert check['changed'] is True and writes(world) == []
    assert check['actions'] == ['docker start joelclaw-controlplane-1', 'docker start joelclaw-worker-1']
    assert check['diff']['before']['nodes'] == ['joelclaw-controlplane-1 (exited)', 'joelclaw-worker-1 (exited)']

    result = run(capsys, world, workers=1, restart_policy='no')
    assert result['changed'] is True and result['actions'] == check['actions']
    assert [c['args'] for c in writes(world)] == [['start', 'joelclaw-controlplane-1'], ['start', 'joelclaw-worker-1']]
    assert {n['state'] for n in result['nodes']} == {'running'}
    assert run(capsys, world, workers=1, restart_policy='no')['changed'] is False


def test_start_stopped_false_leaves_nodes_alone(world, capsys):
    run(capsys, world, restart_policy='no')
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    world.clear_calls()
    assert run(capsys, world, start_stopped=False, restart_policy='no')['changed'] is False
    assert writes(world) == []


@pytest.mark.parametrize('change,variable', [
    ({'workers': 1}, 'workers=1 but'),
    ({'image': 'ghcr.io/siderolabs/talos:v1.13.9'}, 'image=ghcr.io/siderolabs/talos:v1.13.9 but'),
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 30010}}}, 'published_ports=127.0.0.1:3210->30010/tcp but'),
    ({'host_ip': '127.0.0.2'}, 'published_ports='),
    ({'cpus_controlplanes': 4.0}, 'cpus_controlplanes=4.0 but'),
    ({'memory_controlplanes': 4.0}, 'memory_controlplanes=4.0 but'),
])
def test_changes_talosctl_cannot_apply_are_refused(world, capsys, change, variable):
    run(capsys, world)
    world.clear_calls()
    for check in (True, False):
        result = run(capsys, world, check=check, **change)
        assert result['failed'] is True
        assert variable in result['msg'] and 'talosctl cluster destroy --name joelclaw' in result['msg']
        assert 'Only after a backup' in result['msg'] and 'Redis, Qdrant and Inngest' in result['msg']
    assert writes(world) == []


def test_recreate_does_not_duplicate_contexts(world, capsys):
    p = params(world)
    run(capsys, world)
    # Someone destroyed the cluster by hand: talosctl leaves both contexts behind (§2.5).
    world.run('talosctl', 'cluster', 'destroy', '--name', 'joelclaw', '--state', p['cluster_state_dir'],
              DOCKER_HOST=world.docker_host())
    check = run(capsys, world, check=True)
    assert check['changed'] is True
    assert contexts(p['kubeconfig']) == ['admin@joelclaw']  # check mode wrote nothing
    result = run(capsys, world)
    assert result['changed'] is True
    assert any(a.startswith('remove contexts admin@joelclaw from') for a in result['actions'])
    assert contexts(p['talosconfig']) == ['joelclaw'] and contexts(p['kubeconfig']) == ['admin@joelclaw']


def test_without_pruning_talosctl_would_rename(world, capsys):
    """Guards the test above: the fake really renames clashing contexts like talosctl does."""
    p = params(world)
    run(capsys, world)
    world.run('talosctl', 'cluster', 'destroy', '--name', 'joelclaw', '--state', p['cluster_state_dir'],
              DOCKER_HOST=world.docker_host())
    world.run('talosctl', 'cluster', 'create', 'docker', '--name', 'joelclaw', '--state', p['cluster_state_dir'],
              '--talosconfig-destination', p['talosconfig'], DOCKER_HOST=world.docker_host(),
              KUBECONFIG=p['kubeconfig'])
    assert contexts(p['kubeconfig']) == ['admin@joelclaw', 'admin@joelclaw-1']
    result = run(capsys, world, workers=1, published_ports={}, restart_policy='no')  # what the bare create made
    assert result['changed'] is False
    assert any('renamed copies' in w for w in warning_texts(result))


def test_missing_kubeconfig_is_downloaded_again(world, capsys):
    p = params(world)
    run(capsys, world)
    os.remove(p['kubeconfig'])
    world.clear_calls()
    check = run(capsys, world, check=True)
    assert check['changed'] is True and writes(world) == [] and not os.path.exists(p['kubeconfig'])
    result = run(capsys, world)
    assert result['changed'] is True
    [call] = writes(world)
    assert call['args'][-3:] == ['kubeconfig', '--force', p['kubeconfig']]
    assert contexts(p['kubeconfig']) == ['admin@joelclaw']
    assert run(capsys, world)['changed'] is False


def test_recovered_kubeconfig_points_at_the_published_api_port(world, capsys):
    """`talosctl kubeconfig` returns https://10.5.0.2:6443, which macOS cannot reach (host-stack Errata)."""
    p = params(world)
    run(capsys, world)
    os.remove(p['kubeconfig'])
    world.clear_calls()
    check = run(capsys, world, check=True)
    result = run(capsys, world)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert result['actions'][-1] == 'set the server of admin@joelclaw in %s to https://127.0.0.1:53211' % p['kubeconfig']
    assert kube_servers(p['kubeconfig']) == {'joelclaw': 'https://127.0.0.1:53211'}
    assert oct(os.stat(p['kubeconfig']).st_mode & 0o777) == '0o600'
    assert run(capsys, world)['changed'] is False


def test_fake_talosctl_kubeconfig_returns_the_node_endpoint(world, capsys):
    """Guards the test above: the fake answers like kubeconfig.go, with the in-cluster endpoint."""
    p = params(world)
    run(capsys, world)
    target = os.path.join(world.root, 'raw-kubeconfig')
    done = world.run('talosctl', '--talosconfig', p['talosconfig'], '--context', 'joelclaw', '--nodes', '10.5.0.2',
                     'kubeconfig', '--force', target, DOCKER_HOST=world.docker_host())
    assert done.returncode == 0, done.stderr
    assert kube_servers(target) == {'joelclaw': 'https://10.5.0.2:6443'}


def test_kubeconfig_with_the_node_endpoint_is_repaired(world, capsys):
    """A kubeconfig written by the old recovery (server 10.5.0.2:6443) is pointed back at the published port."""
    p = params(world)
    run(capsys, world)
    with open(p['kubeconfig'], encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    data['clusters'][0]['cluster']['server'] = 'https://10.5.0.2:6443'
    with open(p['kubeconfig'], 'w', encoding='utf-8') as handle:
        yaml.safe_dump(data, handle)
    check = run(capsys, world, check=True, diff=True)
    assert check['changed'] is True and kube_servers(p['kubeconfig']) == {'joelclaw': 'https://10.5.0.2:6443'}
    assert (check['diff']['before']['kube_server'], check['diff']['after']['kube_server']) == (
        'https://10.5.0.2:6443', 'https://127.0.0.1:53211')
    assert check['diff']['before']['nodes'] == check['diff']['after']['nodes']
    result = run(capsys, world, diff=True)
    assert result['changed'] is True and result['actions'] == check['actions'] and result['diff'] == check['diff']
    assert kube_servers(p['kubeconfig']) == {'joelclaw': 'https://127.0.0.1:53211'}
    assert run(capsys, world)['changed'] is False


def test_recovery_without_a_published_api_port_fails_clearly(world, capsys):
    """No 6443 binding means no KUBERNETES ENDPOINT: never write the unroutable node address."""
    p = params(world)
    run(capsys, world)
    os.remove(p['kubeconfig'])
    world.edit(lambda s: s['containers']['joelclaw-controlplane-1'].__setitem__('ports', [
        b for b in s['containers']['joelclaw-controlplane-1']['ports'] if b['container_port'] != '6443/tcp']))
    world.clear_calls()
    result = run(capsys, world)
    assert result['failed'] is True and 'KUBERNETES ENDPOINT' in result['msg'] and 'docker port' in result['msg']
    assert not os.path.exists(p['kubeconfig']) and writes(world) == []  # refused before `talosctl kubeconfig`


def test_nodes_get_a_restart_policy_so_dockerd_brings_them_back(world, capsys):
    run(capsys, world, workers=1)
    assert [c['args'] for c in writes(world) if c['args'][0] == 'update'] == [
        ['update', '--restart', 'unless-stopped', 'joelclaw-controlplane-1', 'joelclaw-worker-1']]
    world.run('colima', 'stop', 'default')
    world.run('colima', 'start', 'default')
    assert {c['state'] for c in world.state()['containers'].values()} == {'running'}
    world.clear_calls()
    assert run(capsys, world, workers=1)['changed'] is False and writes(world) == []


def test_existing_nodes_without_a_restart_policy_get_one(world, capsys):
    run(capsys, world, restart_policy='no')
    world.clear_calls()
    check = run(capsys, world, check=True)
    assert check['actions'] == ['docker update --restart unless-stopped joelclaw-controlplane-1']
    assert writes(world) == []
    result = run(capsys, world)
    assert result['changed'] is True and result['actions'] == check['actions']
    assert [n['restart_policy'] for n in result['nodes']] == ['unless-stopped']
    assert run(capsys, world)['changed'] is False


@pytest.mark.parametrize('version', ['v1.11.6', 'v1.10.0'])
def test_talosctl_older_than_1_12_is_refused_before_any_change(world, capsys, version):
    world.edit(lambda s: s.__setitem__('talosctl_version', version))
    result = run(capsys, world)
    assert result['failed'] is True
    assert version in result['msg'] and '1.12' in result['msg'] and 'brew upgrade talosctl' in result['msg']
    assert writes(world) == [] and world.state()['containers'] == {}


def test_missing_talosconfig_on_existing_cluster_is_an_error(world, capsys):
    p = params(world)
    run(capsys, world)
    os.remove(p['talosconfig'])
    result = run(capsys, world)
    assert result['failed'] is True and p['talosconfig'] in result['msg'] and 'destroy' in result['msg']


def test_absent(world, capsys):
    p = params(world)
    run(capsys, world)
    world.clear_calls()
    for confirm in ('', 'other'):
        refused = run(capsys, world, state='absent', confirm=confirm)
        assert refused['failed'] is True and 'after a backup' in refused['msg'] and writes(world) == []
    check = run(capsys, world, check=True, state='absent', confirm='joelclaw')
    assert check['changed'] is True and writes(world) == []
    result = run(capsys, world, state='absent', confirm='joelclaw')
    assert result['changed'] is True
    assert world.state()['containers'] == {}
    assert contexts(p['kubeconfig']) == [] and contexts(p['talosconfig']) == []
    assert run(capsys, world, state='absent')['changed'] is False  # nothing left to destroy


def test_orphaned_state_dir_is_moved_aside(world, capsys):
    p = params(world)
    os.makedirs(os.path.join(p['cluster_state_dir'], 'joelclaw'))
    result = run(capsys, world)
    assert result['changed'] is True and result['actions'][0].startswith('move ')
    assert len(world.state()['containers']) == 1


@pytest.mark.parametrize('change,needle', [
    ({'image': 'ghcr.io/siderolabs/talos:latest'}, "image='ghcr.io/siderolabs/talos:latest' is not pinned"),
    ({'image': 'ghcr.io/siderolabs/talos'}, "image='ghcr.io/siderolabs/talos' is not pinned"),
    ({'workers': -1}, 'workers=-1;'),
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 80}}}, 'node_port in 30000-30085'),
    # KEP-3668: since Kubernetes 1.29 the API server hands out 30086-32767 first, so a Service created
    # without a nodePort can take a port above 30085 before ours is applied.
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 30086}}}, 'node_port in 30000-30085'),
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 30210}}}, 'KEP-3668'),
    ({'published_ports': {'api': 3210}}, 'host_port and node_port'),
    ({'config_patches': ['machine: {}']}, 'config_patches[0]='),
    # Talos reuses --host-ip for its API ports: anything but loopback puts them on the LAN.
    ({'host_ip': '0.0.0.0'}, 'loopback'),
    ({'host_ip': '192.168.1.20'}, 'loopback'),
    ({'host_ip': ''}, 'loopback'),
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 30010, 'host_ip': '0.0.0.0'}}}, 'loopback'),
    ({'published_ports': {'api': {'host_port': 3210, 'node_port': 30010, 'host_ip': '::'}}}, 'loopback'),
])
def test_bad_values_are_refused_before_anything_runs(world, capsys, change, needle):
    result = run(capsys, world, **change)
    assert result['failed'] is True and needle in result['msg']
    assert world.calls() == []


# One sha256 digest may follow the tag: 64 lowercase hex (opencontainers/go-digest@137fd2bb algorithm.go,
# hexDigestRegex); the tag grammar is distribution/reference@0965666a regexp.go.
DIGEST = 'sha256:' + '0123456789abcdef' * 4


@pytest.mark.parametrize('image,needle', [
    (IMAGE + '@sha256:' + '0' * 63, 'has a malformed digest'),
    (IMAGE + '@sha256:' + 'A' * 64, 'has a malformed digest'),
    (IMAGE + '@' + DIGEST + '@' + DIGEST, 'has a malformed digest'),
    (IMAGE + '@', 'has a malformed digest'),
    (IMAGE + '@' + DIGEST + '\n', 'has a malformed digest'),
    ('ghcr.io/siderolabs/talos@' + DIGEST, 'is not pinned'),
])
def test_malformed_digest_or_digest_without_tag_is_refused_before_anything_runs(world, capsys, image, needle):
    result = run(capsys, world, image=image)
    assert result['failed'] is True
    assert 'image=%r %s' % (image, needle) in result['msg']
    assert world.calls() == []


def test_image_pinned_by_tag_and_digest_reaches_talosctl_and_converges(world, capsys):
    image = IMAGE + '@' + DIGEST
    first = run(capsys, world, image=image)
    assert first['changed'] is True, first
    creates = [c['args'] for c in world.calls() if c['args'][:3] == ['cluster', 'create', 'docker']]
    assert len(creates) == 1 and creates[0][creates[0].index('--image') + 1] == image
    second = run(capsys, world, image=image)
    assert second['changed'] is False, second


def test_failed_inspect_does_not_return_the_machine_config(world, capsys):
    """A node that vanishes between `docker ps` and `docker inspect` makes docker print the others and exit 1
    (docker/cli v28.5.2 inspector.go); their Config.Env holds the machine config with the CA keys."""
    run(capsys, world, workers=1)
    world.edit(lambda s: s['containers']['joelclaw-worker-1'].__setitem__('gone_at_inspect', True))
    leaked = world.run('docker', 'inspect', 'joelclaw-controlplane-1', 'joelclaw-worker-1',
                       DOCKER_HOST=world.docker_host())
    assert leaked.returncode == 1 and 'USERDATA=' in leaked.stdout  # what a raw stdout would hand back
    result = run(capsys, world, workers=1)
    assert result['failed'] is True and 'No such object: joelclaw-worker-1' in result['msg']
    text = json.dumps(result)
    assert 'USERDATA' not in text and 'FAKE-' not in text and 'PLATFORM=container' not in text


def test_inspect_asks_only_for_the_fields_it_reads(world, capsys):
    run(capsys, world)
    world.clear_calls()
    result = run(capsys, world)
    assert result['changed'] is False and result['nodes'][0]['restart_policy'] == 'unless-stopped'
    [call] = [c for c in world.calls('docker') if c['args'][:1] == ['inspect']]
    fmt = call['args'][call['args'].index('--format') + 1]
    assert 'Env' not in fmt and '{{json .}}' not in fmt
    assert 'USERDATA' not in json.dumps(result) and 'FAKE-' not in json.dumps(result)


# ---------------------------------------------------------------- adoption and the port bridge (issue 17)

def owners_cluster(world, exposed_ports=None):
    """A cluster made by hand with `talosctl cluster create docker`, its context in ~/.talos/config."""
    argv = ['talosctl', 'cluster', 'create', 'docker', '--name', 'homelab', '--workers', '0', '--host-ip', '127.0.0.1',
            '--state', os.path.join(world.root, 'talos-clusters'),
            '--talosconfig-destination', os.path.join(world.root, 'home-talos-config')]
    if exposed_ports:
        argv += ['--exposed-ports', exposed_ports]
    done = world.run(*argv, DOCKER_HOST=world.docker_host(), KUBECONFIG=os.path.join(world.root, 'home-kubeconfig'))
    assert done.returncode == 0, done.stderr
    world.clear_calls()
    return dict(name='homelab', adopt=True, adopt_talosconfig=os.path.join(world.root, 'home-talos-config'),
                port_bridge=True)


def test_adopting_a_cluster_that_publishes_the_ports_adds_no_bridge(world, capsys):
    adopt = owners_cluster(world, '127.0.0.1:3210:30010/tcp,127.0.0.1:3211:30011/tcp,127.0.0.1:6791:30012/tcp')
    result = run(capsys, world, memory_controlplanes=4.0, **adopt)
    assert result['bridges'] == {} and result['changed'] is True  # restart policy, talosconfig context, kubeconfig
    assert result['differences'] == ["memory_controlplanes=4.0 but cluster 'homelab' has 2.0 GiB on "
                                     "homelab-controlplane-1"]
    assert sorted(world.state()['containers']) == ['homelab-controlplane-1']
    assert not [c for c in world.calls('talosctl') if c['args'][:2] in (['cluster', 'create'], ['cluster', 'destroy'])]
    assert run(capsys, world, memory_controlplanes=4.0, **adopt)['changed'] is False


def test_adopting_a_cluster_without_the_ports_bridges_them(world, capsys):
    adopt = owners_cluster(world)
    check = run(capsys, world, check=True, **adopt)
    assert [c for c in world.state()['containers'] if 'bridge' in c] == []
    result = run(capsys, world, **adopt)
    assert result['actions'] == check['actions']
    assert sorted(result['bridges']) == ['homelab-bridge-api', 'homelab-bridge-dashboard', 'homelab-bridge-site']
    assert world.state()['containers']['homelab-bridge-site']['ports'] == [
        {'container_port': '30011/tcp', 'host_ip': '127.0.0.1', 'host_port': '3211'}]
    assert run(capsys, world, **adopt)['changed'] is False
    # A port that moves to another NodePort: the bridge (ours, stateless) is replaced, nothing else.
    moved = dict(PORTS, api={'host_port': 3210, 'node_port': 30020})
    world.clear_calls()
    result = run(capsys, world, published_ports=moved, **adopt)
    assert result.get('changed') is True, result.get('msg')
    assert [c['args'][:2] for c in world.calls('docker') if c['args'][0] in ('rm', 'run')] == [
        ['rm', '--force'], ['run', '--detach']]
    assert world.state()['containers']['homelab-bridge-api']['command'][-1] == 'TCP-CONNECT:homelab-controlplane-1:30020'


def test_a_host_port_the_node_publishes_elsewhere_is_refused(world, capsys):
    adopt = owners_cluster(world, '127.0.0.1:3210:30099/tcp')
    result = run(capsys, world, **adopt)
    assert result['failed'] is True and 'publishes host port 3210' in result['msg']
    assert [c for c in world.calls('docker') if c['args'][0] in ('run', 'rm', 'update', 'start')] == []


def test_adopting_a_missing_cluster_creates_nothing(world, capsys):
    result = run(capsys, world, name='homelab', adopt=True, port_bridge=True)
    assert result['failed'] is True and 'nothing was created' in result['msg']
    assert writes(world) == [] and world.state()['containers'] == {}


def test_without_adopt_a_foreign_talosconfig_is_not_read(world, capsys):
    adopt = owners_cluster(world)
    adopt['adopt'] = False
    world.clear_calls()
    result = run(capsys, world, **adopt)
    assert result['failed'] is True and 'adopt=true and adopt_talosconfig=' in result['msg']
    assert 'Only after a backup' in result['msg'] and writes(world) == []
    assert [c for c in world.calls('docker') if c['args'][0] in ('run', 'rm')] == []


def test_diff_of_a_create_is_the_same_in_check_mode_and_for_real(world, capsys):
    """The manager's difference tracker: check mode predicts the diff the real run reports."""
    check = run(capsys, world, check=True, diff=True)
    assert writes(world) == [] and world.state()['containers'] == {}
    assert check['diff']['before']['nodes'] == [] and check['diff']['after']['nodes'] == [
        'joelclaw-controlplane-1 (running)']
    assert check['diff']['before']['talosconfig_contexts'] == [] and \
        check['diff']['after']['talosconfig_contexts'] == ['joelclaw']
    assert check['diff']['after']['kubeconfig_contexts'] == ['admin@joelclaw']
    assert check['diff']['after']['restart_policy'] == {'joelclaw-controlplane-1': 'unless-stopped'}
    result = run(capsys, world, diff=True)
    assert result['changed'] is True and result['diff'] == check['diff']

    again = run(capsys, world, diff=True)
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']
    assert again['diff']['after']['nodes'] == ['joelclaw-controlplane-1 (running)']
    assert again['diff']['after']['kube_server'] == 'https://127.0.0.1:53211'


def test_diff_of_absent_in_check_mode_changes_nothing(world, capsys):
    p = params(world)
    run(capsys, world)
    world.clear_calls()
    check = run(capsys, world, check=True, diff=True, state='absent', confirm='joelclaw')
    assert check['changed'] is True and writes(world) == []
    assert check['diff']['before']['nodes'] == ['joelclaw-controlplane-1 (running)']
    assert check['diff']['after']['nodes'] == []
    assert check['diff']['after']['talosconfig_contexts'] == [] and check['diff']['after']['kubeconfig_contexts'] == []
    assert contexts(p['talosconfig']) == ['joelclaw'] and len(world.state()['containers']) == 1
    result = run(capsys, world, diff=True, state='absent', confirm='joelclaw')
    assert result['diff'] == check['diff'] and result['actions'] == check['actions']
    assert world.state()['containers'] == {} and contexts(p['talosconfig']) == []
    assert run(capsys, world, state='absent', confirm='joelclaw')['changed'] is False
