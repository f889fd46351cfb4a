# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""macos_preflight against fake macOS CLIs on PATH: tests/unit/fakebin/macos_system.py (sw_vers, sysctl,
fdesetup, defaults, pmset, brew; man pages), macos_clis.py (talosctl, colima; siderolabs/talos v1.12.11,
abiosoft/colima v0.10.3) and tailscale_cli.py (ipnstate.Status; github:tailscale/tailscale
ipn/ipnstate/ipnstate.go, read again at de9ec7ee25627e0e518f53c710a3fc3d947c86c1). Ports use real
sockets and the real lsof of this machine."""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest

from ansible_collections.joelclaw.macmini.plugins.modules import macos_preflight

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'fakebin'))
import macos_clis  # noqa: E402  pylint: disable=wrong-import-position
import macos_system  # noqa: E402  pylint: disable=wrong-import-position
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

HOST = 'macmini.example-tailnet.ts.net'
GIB = 1024 ** 3


class Mac:
    def __init__(self, tmp_path, monkeypatch):
        self.tmp = tmp_path
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        self.monkeypatch = monkeypatch
        monkeypatch.setenv('PATH', str(self.bin) + os.pathsep + os.environ.get('PATH', ''))
        monkeypatch.setenv('FAKE_MACOS_STATE', str(tmp_path / 'colima.json'))
        monkeypatch.setenv('FAKE_TAILSCALE_STATE', str(tmp_path / 'tailscale.json'))
        # Plenty of disk unless a test says otherwise; the disk rule has its own test below.
        monkeypatch.setattr(macos_preflight, 'free_bytes', lambda path: (path, 500 * GIB))
        self.system()
        self.tailscale()

    def system(self, **overrides):
        macos_system.install(self.bin, **overrides)

    def tailscale(self, **kwargs):
        tailscale_cli.install(self.bin)
        tailscale_cli.write_state(self.tmp / 'tailscale.json', **kwargs)

    def talos_colima(self, talosctl='v1.12.11', colima='0.10.3'):
        macos_clis.install(self.bin)
        (self.tmp / 'colima.json').write_text(json.dumps({'colima_version': colima, 'talosctl_version': talosctl,
                                                          'profiles': {}, 'containers': {}, 'calls': []}))


@pytest.fixture
def mac(tmp_path, monkeypatch):
    return Mac(tmp_path, monkeypatch)


def args(**overrides):
    base = {'tailnet_hostname': HOST, 'funnel_ports': [443, 8443], 'need_https_certs': True, 'disk_path': '/nonexistent/.joelclaw',
            'pvc_size': '5Gi', 'backup_copies': 11, 'vm_disk_gib': 100,
            'login_agents': ['colima_talos', 'caddy', 'convex_backup'],
            'image_check': {'failed': False, 'missing': [], 'images': [{'image': 'a'}, {'image': 'b'}]}}
    base.update(overrides)
    return base


def by_name(result):
    return {p['name']: p for p in result['probes']}


def test_clean_mac_passes_with_one_line_per_check(mac, run_module):
    result = run_module(macos_preflight, args(), check_mode=True)
    assert not result.get('failed'), result
    probes = by_name(result)
    assert result['verdict'] == 'ok', result['report']
    assert probes['macos']['value'] == '15.5' and probes['apple_silicon']['value'] == 'arm64'
    assert probes['homebrew']['value'] == 'Homebrew 4.6.3 at /opt/homebrew'
    assert probes['magicdns_name']['value'] == HOST and probes['funnel']['value'] == 'ports 443, 8443'
    assert probes['talosctl']['value'] == 'not installed' and probes['colima']['value'] == 'not installed'
    assert probes['power_cut']['value'] == 'FileVault off, auto-login joel'
    assert result['facts'] == {'filevault': 'off', 'auto_login_user': 'joel', 'autorestart': 1}
    assert len(result['report']) == len(result['probes'])
    assert result['report'][0].startswith('OK    macos')


@pytest.mark.parametrize('overrides, name, value, fix', [
    ({'sw_vers': '12.7.6'}, 'macos', '12.7.6', 'macOS 13.0.0 or later'),
    ({'sw_vers': None}, 'macos', None, 'not macOS'),
    ({'sysctl': {}}, 'apple_silicon', 'unknown', 'Apple silicon'),
    ({'sysctl': {'hw.optional.arm64': '0'}}, 'apple_silicon', 'not arm64', 'Apple silicon'),
    ({'brew': None}, 'homebrew', None, 'https://brew.sh'),
])
def test_the_machine_and_homebrew_fail_with_the_fix(mac, run_module, overrides, name, value, fix):
    mac.system(**overrides)
    result = run_module(macos_preflight, args())
    probe = by_name(result)[name]
    assert (probe['status'], probe['value']) == ('fail', value) and fix in probe['hint'], probe
    assert result['verdict'] == 'fail'


@pytest.mark.parametrize('kwargs, name, value, fix', [
    ({'backend': 'NeedsLogin'}, 'tailscale', 'NeedsLogin', 'log in'),
    ({'backend': 'Stopped'}, 'tailscale', 'Stopped', 'tailscale up'),
    ({'dns_name': 'other.example-tailnet.ts.net'}, 'magicdns_name', 'other.example-tailnet.ts.net',
     "set it to 'other.example-tailnet.ts.net'"),
    ({'caps': []}, 'https_certs', 'disabled', 'enable HTTPS certificates'),
    ({'caps': ['https']}, 'funnel', 'not permitted', 'nodeAttrs'),
    ({'caps': ['https', 'funnel', 'https://tailscale.com/cap/funnel-ports?ports=443']}, 'funnel',
     'ports 443 allowed', 'not allow Funnel on 8443'),
])
def test_tailscale_fails_name_the_state_and_the_fix(mac, run_module, kwargs, name, value, fix):
    mac.tailscale(**kwargs)
    probe = by_name(run_module(macos_preflight, args()))[name]
    assert (probe['status'], probe['value']) == ('fail', value) and fix in probe['hint'], probe


def test_funnel_is_not_checked_without_funnel_endpoints(mac, run_module):
    mac.tailscale(caps=['https'])
    probes = by_name(run_module(macos_preflight, args(funnel_ports=[])))
    assert 'funnel' not in probes and probes['https_certs']['status'] == 'ok'


def test_missing_tailscale_is_a_clear_fail(mac, run_module):
    os.remove(str(mac.bin / 'tailscale'))
    probe = by_name(run_module(macos_preflight, args(tailscale_bin='tailscale-not-here')))['tailscale']
    assert probe['status'] == 'fail' and 'tailscale-not-here not found: install Tailscale' in probe['hint']


def test_tailscaled_not_answering_is_a_clear_fail(mac, run_module):
    (mac.tmp / 'tailscale.json').write_text('{}')  # the fake then crashes: no JSON on stdout, exit 1
    probe = by_name(run_module(macos_preflight, args()))['tailscale']
    assert probe['status'] == 'fail' and 'is tailscaled running?' in probe['hint']


def test_old_talosctl_fails_new_one_and_colima_pass(mac, run_module):
    mac.talos_colima(talosctl='v1.11.6')
    probes = by_name(run_module(macos_preflight, args()))
    assert probes['talosctl']['status'] == 'fail' and 'brew upgrade talosctl' in probes['talosctl']['hint']
    assert (probes['colima']['status'], probes['colima']['value']) == ('ok', '0.10.3')
    mac.talos_colima(talosctl='v1.12.11', colima='0.8.0')
    probes = by_name(run_module(macos_preflight, args()))
    assert (probes['talosctl']['status'], probes['talosctl']['value']) == ('ok', 'v1.12.11')
    assert probes['colima']['status'] == 'fail' and 'brew upgrade colima' in probes['colima']['hint']


@pytest.mark.parametrize('filevault, login, restart, status, words', [
    ('Off', 'joel', 1, 'ok', 'logs joel in'),
    ('Off', None, 1, 'warn', 'wait for someone to log in'),
    ('On', None, 1, 'warn', 'until someone unlocks FileVault'),
])
def test_power_cut_verdict_follows_filevault_and_auto_login(mac, run_module, filevault, login, restart, status, words):
    mac.system(fdesetup=filevault, pmset={'autorestart': restart},
               defaults={'/Library/Preferences/com.apple.loginwindow': {'autoLoginUser': login} if login else {}})
    result = run_module(macos_preflight, args())
    probe = by_name(result)['power_cut']
    assert probe['status'] == status and words in probe['hint'], probe
    assert 'colima_talos, caddy, convex_backup' in probe['hint']
    assert result['facts']['auto_login_user'] == login


def test_no_restart_after_power_failure_warns_with_the_pmset_fix(mac, run_module):
    mac.system(pmset={'autorestart': 0})
    probe = by_name(run_module(macos_preflight, args()))['restart_after_power_cut']
    assert (probe['status'], probe['value']) == ('warn', 'off') and 'pmset -a autorestart 1' in probe['hint']


def test_python_older_than_the_minimum_fails(mac, run_module):
    old = mac.bin / 'python3-clt'
    # macOS Command Line Tools' /usr/bin/python3 is 3.9 (scripts/find-python); `--version` prints "Python X.Y.Z".
    old.write_text('#!/bin/sh\necho "Python 3.9.6"\n')
    old.chmod(0o755)
    result = run_module(macos_preflight, args(pythons=[
        {'path': str(old), 'min': '3.11', 'purpose': 'bootstrap'},
        {'path': sys.executable, 'min': '3.9', 'purpose': 'backup job'}]))
    probes = by_name(result)
    assert probes['python bootstrap']['status'] == 'fail' and 'brew install python@3.13' in probes['python bootstrap']['hint']
    assert probes['python backup job']['status'] == 'ok'


def test_missing_image_fails_and_unreachable_registry_warns(mac, run_module):
    probe = by_name(run_module(macos_preflight, args(image_check={'failed': True, 'missing': ['img:x'], 'msg': 'm'})))
    assert probe['images']['status'] == 'fail' and probe['images']['value'] == 'missing: img:x'
    probe = by_name(run_module(macos_preflight, args(image_check={'failed': True, 'missing': [],
                                                                  'msg': 'docker not found'})))
    assert probe['images']['status'] == 'warn' and 'docker not found' in probe['images']['hint']


def test_port_held_by_another_process_fails_ours_passes(mac, run_module):
    with socket.socket() as held:
        held.bind(('127.0.0.1', 0))
        held.listen(1)
        port = held.getsockname()[1]
        entry = {'port': port, 'purpose': 'backend NodePort', 'owners': ['limactl']}
        probe = by_name(run_module(macos_preflight, args(ports=[entry])))['port 127.0.0.1:%d' % port]
        assert probe['status'] == 'fail' and ('pid %d' % os.getpid()) in probe['value'], probe
        command = probe['value'].split('in use by ', 1)[1].split(' (pid')[0]
        entry['owners'] = [command]
        probe = by_name(run_module(macos_preflight, args(ports=[entry])))['port 127.0.0.1:%d' % port]
        assert probe['status'] == 'ok' and probe['value'].startswith('ours (')
    probe = by_name(run_module(macos_preflight, args(ports=[entry])))['port 127.0.0.1:%d' % port]
    assert (probe['status'], probe['value']) == ('ok', 'free')


@pytest.mark.parametrize('free_gib, status', [(50, 'fail'), (100, 'warn'), (200, 'ok')])
def test_disk_fails_below_pvc_and_backups_and_warns_below_the_vm_disk(mac, run_module, monkeypatch, free_gib, status):
    monkeypatch.setattr(macos_preflight, 'free_bytes', lambda path: (path, free_gib * GIB))
    # PVC 5 GiB + 11 backups of 5 GiB = 60 GiB must fit; VM disk 100 + root 20 + backups 55 = 175 GiB in all.
    probe = by_name(run_module(macos_preflight, args()))['disk']
    assert probe['status'] == status, probe


def test_free_bytes_measures_the_nearest_existing_parent(tmp_path):
    path, free = macos_preflight.free_bytes(str(tmp_path / 'not' / 'yet'))
    assert path == str(tmp_path) and free > 0


@pytest.mark.parametrize('overrides, message', [
    ({'pvc_size': '5 gigs'}, "pvc_size: '5 gigs' is not a storage size"),
    ({'ports': [{'port': 70000, 'purpose': 'x'}]}, 'port 70000 is outside 1-65535'),
    ({'tailnet_hostname': HOST + '.'}, 'without the final dot'),
    ({'min_talosctl': 'latest'}, "min_talosctl='latest' is not a version"),
    ({'ports': [{'purpose': 'x'}]}, 'port'),
])
def test_bad_input_fails_before_reading_anything(mac, run_module, overrides, message):
    result = run_module(macos_preflight, args(**overrides))
    assert result.get('failed') and message in result['msg'], result
    assert json.loads((mac.tmp / 'tailscale.json').read_text())['calls'] == []


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_contract_endpoints_give_funnel_ports_https_need_and_the_ports_to_check(mac, run_module):
    dashboard, api_local, nodeport = free_port(), free_port(), free_port()
    # Shaped like convex_public_endpoints / convex_published_ports in roles/contract/defaults/main.yml.
    endpoints = {'api': {'host': HOST, 'port': 443, 'tls': 'tailscale', 'reach': 'funnel'},
                 'site': {'host': HOST, 'port': 10000, 'tls': 'tailscale', 'reach': 'funnel'},
                 'dashboard': {'host': HOST, 'port': dashboard, 'tls': 'tailscale', 'reach': 'tailnet'}}
    mac.tailscale(caps=[])
    result = run_module(macos_preflight, args(funnel_ports=[], need_https_certs=False, endpoints=endpoints,
                                              caddy_local_ports={'api': api_local},
                                              published_ports={'api': {'host_port': nodeport, 'node_port': 30010}}))
    probes = by_name(result)
    assert probes['https_certs']['status'] == 'fail'  # an endpoint has tls: tailscale
    assert probes['funnel']['status'] == 'fail' and 'ports 443, 10000' in probes['funnel']['hint']
    checked = sorted(p['name'] for p in result['probes'] if p['name'].startswith('port '))
    assert checked == sorted('port 127.0.0.1:%d' % p for p in (dashboard, api_local, nodeport))
    assert 'NodePort 30010' in probes['port 127.0.0.1:%d' % nodeport]['hint']


def test_endpoints_of_the_wrong_shape_are_refused(mac, run_module):
    result = run_module(macos_preflight, args(endpoints={'api': {'reach': 'funnel'}}))
    assert result.get('failed') and 'not shaped like convex_public_endpoints' in result['msg'], result
