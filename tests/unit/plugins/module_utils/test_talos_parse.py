# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing recorded talosctl/docker output and the client-config pruning."""

from __future__ import annotations

import os

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _talos

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'modules', 'fixtures', 'colima_talos')


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


def test_cluster_show_text():
    show = _talos.parse_cluster_show(fixture('talosctl_cluster_show.txt'))
    assert show['fields']['NAME'] == 'joelclaw'
    assert show['fields']['KUBERNETES ENDPOINT'] == 'https://127.0.0.1:53211'
    assert show['fields']['NETWORK CIDR'] == '10.5.0.0/24'
    assert [(n['name'], n['type'], n['ip']) for n in show['nodes']] == [
        ('joelclaw-controlplane-1', 'controlplane', '10.5.0.2'), ('joelclaw-worker-1', 'worker', '10.5.0.3')]


def test_cluster_show_sizes_contain_spaces():
    """show.go prints RAM/DISK with humanize.Bytes (`4.3 GB`): columns come from the header, not from spaces."""
    show = _talos.parse_cluster_show(fixture('talosctl_cluster_show.txt'))
    assert [(n['cpu'], n['ram'], n['disk']) for n in show['nodes']] == [('2.00', '4.3 GB', '-'), ('2.00', '2.1 GB', '-')]
    exited = _talos.parse_cluster_show(fixture('talosctl_cluster_show_exited.txt'))
    assert [(n['name'], n['ip'], n['ram']) for n in exited['nodes']] == [
        ('joelclaw-controlplane-1', 'invalid IP', '4.3 GB'), ('joelclaw-worker-1', 'invalid IP', '2.1 GB')]


def test_cluster_show_of_a_missing_cluster_has_no_endpoint():
    text = ('PROVISIONER           docker\nNAME                  gone\nNETWORK NAME          \nNETWORK CIDR          \n'
            'NETWORK GATEWAY       \nNETWORK MTU           0\nKUBERNETES ENDPOINT   \n\nNODES:\n\n'
            'NAME   TYPE   IP   CPU   RAM   DISK\n')
    show = _talos.parse_cluster_show(text)
    assert show['fields']['KUBERNETES ENDPOINT'] == '' and show['nodes'] == []


def test_client_version():
    assert _talos.parse_client_version(fixture('talosctl_version_client.txt')) == ((1, 12), 'v1.12.11')
    assert _talos.parse_client_version('Client:\n\tTag:         v1.11.6\n') == ((1, 11), 'v1.11.6')
    assert _talos.parse_client_version('Error: unknown flag: --client\n') == (None, None)


def test_cluster_show_rejects_other_text():
    with pytest.raises(_talos.TalosOutputError):
        _talos.parse_cluster_show('error: something\n')
    with pytest.raises(_talos.TalosOutputError):
        _talos.parse_cluster_show('NAME  x\nNODES:\nfoo bar\n')


def test_inspect_summary():
    nodes = _talos.summarize('joelclaw', _talos.parse_inspect(fixture('docker_inspect_exited.json')))
    [node] = nodes
    assert (node['role'], node['state'], node['ip'], node['restart_policy']) == ('controlplane', 'exited', '10.5.0.2', 'no')
    assert _talos.start_order(nodes) == ['joelclaw-controlplane-1']
    assert _talos.open_to_all_interfaces(nodes) == []  # --host-ip 127.0.0.1 covers the API ports too
    desired = {'workers': 0, 'image': 'ghcr.io/siderolabs/talos:v1.12.11', 'cpus_controlplanes': 2.0,
               'memory_controlplanes': 4.0, 'cpus_workers': 2.0, 'memory_workers': 2.0,
               'published_ports': {'api': {'host_port': 3210, 'node_port': 30010}}, 'host_ip': '127.0.0.1'}
    variables = {k: 'v_' + k for k in desired}
    assert _talos.drift('joelclaw', desired, nodes, variables) == []
    desired['published_ports'] = {'api': {'host_port': 3299, 'node_port': 30010}}
    [problem] = _talos.drift('joelclaw', desired, nodes, variables)
    assert problem.startswith('v_published_ports=127.0.0.1:3299->30010/tcp')
    with pytest.raises(_talos.TalosOutputError):
        _talos.parse_inspect('{}')


def test_flags():
    assert _talos.exposed_ports_flag({'b': {'host_port': 2, 'node_port': 30002, 'protocol': 'udp'},
                                      'a': {'host_port': 1, 'node_port': 30001}}, '127.0.0.1') == \
        '127.0.0.1:1:30001/tcp,127.0.0.1:2:30002/udp'
    assert _talos.size_flag(2) == '2.0GiB' and _talos.size_flag(1.5) == '1.5GiB'
    assert _talos.cpus_flag(2) == '2.0' and _talos.cpus_flag(0.5) == '0.5'


def test_prune_talosconfig():
    config = {'context': 'joelclaw-1', 'contexts': {'joelclaw': {}, 'joelclaw-1': {}, 'joelclaw-prod': {}, 'other': {}}}
    new, removed = _talos.prune_talosconfig(config, 'joelclaw')
    assert removed == ['joelclaw', 'joelclaw-1']
    assert sorted(new['contexts']) == ['joelclaw-prod', 'other'] and new['context'] == ''
    assert sorted(config['contexts']) == ['joelclaw', 'joelclaw-1', 'joelclaw-prod', 'other']  # input untouched


def test_prune_kubeconfig_keeps_shared_entries():
    config = {
        'current-context': 'admin@joelclaw',
        'clusters': [{'name': 'joelclaw'}, {'name': 'joelclaw-1'}, {'name': 'shared'}],
        'users': [{'name': 'admin@joelclaw'}, {'name': 'admin@joelclaw-1'}, {'name': 'me'}],
        'contexts': [
            {'name': 'admin@joelclaw', 'context': {'cluster': 'joelclaw', 'user': 'admin@joelclaw'}},
            {'name': 'admin@joelclaw-1', 'context': {'cluster': 'joelclaw-1', 'user': 'admin@joelclaw-1'}},
            {'name': 'admin@joelclaw-lab', 'context': {'cluster': 'shared', 'user': 'me'}},
        ],
    }
    new, removed = _talos.prune_kubeconfig(config, 'admin@joelclaw')
    assert removed == ['admin@joelclaw', 'admin@joelclaw-1']
    assert [c['name'] for c in new['contexts']] == ['admin@joelclaw-lab']
    assert [c['name'] for c in new['clusters']] == ['shared'] and [u['name'] for u in new['users']] == ['me']
    assert new['current-context'] == ''


def test_duplicates():
    assert _talos.duplicates(['admin@x', 'admin@x-1', 'admin@x-lab'], 'admin@x') == ['admin@x-1']
