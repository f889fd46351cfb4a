# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/record-mac-fixtures: its redaction, a dry run with fake CLIs, and the parsers over every
recording under tests/fixtures/recorded/."""

from __future__ import annotations

import glob
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KIT = os.path.join(REPO, 'scripts', 'record-mac-fixtures')
KIT_MODULE = os.path.join(REPO, 'scripts', 'record_mac_fixtures.py')
RECORDED = os.path.join(REPO, 'tests', 'fixtures', 'recorded')
sys.path.insert(0, os.path.join(HERE, 'fakes'))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'standins', 'convex'))

import convex_standin  # noqa: E402  pylint: disable=wrong-import-position
import mac_recording_clis  # noqa: E402  pylint: disable=wrong-import-position
import recorded_parsers  # noqa: E402  pylint: disable=wrong-import-position


def _load_kit():
    loader = importlib.machinery.SourceFileLoader('record_mac_fixtures', KIT_MODULE)
    spec = importlib.util.spec_from_loader('record_mac_fixtures', loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


kit = _load_kit()

# ---------------------------------------------------------------- (a) redaction on realistic inputs

ADMIN_KEY = 'joelclaw|01' + 'a7c3e9' * 12 + 'f00d'
INSTANCE_SECRET = '4361726c2773206d6f7573652069732074686520626573742063617420657665'
JWT = ('eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJrNzEyMyIsImlzcyI6Imh0dHBzOi8vY29udmV4In0.'
       'c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu')
PEM = ('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n'
       'bm90LWEtcmVhbC1rZXktYnV0LXNoYXBlZC1saWtlLW9uZQ==\n-----END PRIVATE KEY-----')
DIGEST = 'sha256:' + 'ab' * 32
TAILNET = 'tail4a2b3.ts.net'
NODE_DNS = 'joels-mac-mini.' + TAILNET

# Shaped like `tailscale status --json` (tailscale/ipn/ipnstate/ipnstate.go Status, PeerStatus,
# TailnetStatus; UserProfile in tailcfg): values made up.
STATUS = json.dumps({
    'Version': '1.90.6-t1234567',
    'BackendState': 'Running',
    'TailscaleIPs': ['100.101.102.103', 'fd7a:115c:a1e0:ab12:4843:cd96:6265:6667'],
    'Self': {'HostName': 'Joels-Mac-mini', 'DNSName': NODE_DNS + '.', 'TailscaleIPs': ['100.101.102.103'],
             'Addrs': ['203.0.113.7:41641', '192.168.1.20:41641'], 'CurAddr': '', 'Relay': 'sfo'},
    'Peer': {'nodekey:abc': {'HostName': 'joels-iphone', 'DNSName': 'joels-iphone.' + TAILNET + '.',
                             'TailscaleIPs': ['100.88.1.2', 'fd7a:115c:a1e0::99'], 'CurAddr': '198.51.100.4:41641'}},
    'User': {'123': {'LoginName': 'joel@example.com', 'DisplayName': 'Joel Hooks', 'ProfilePicURL': 'https://x/p.png'}},
    'CurrentTailnet': {'Name': 'joel@example.com', 'MagicDNSSuffix': TAILNET, 'MagicDNSEnabled': True},
}, indent=2)
SERVE = json.dumps({'TCP': {'443': {'HTTPS': True}},
                    'Web': {NODE_DNS + ':443': {'Handlers': {'/': {'Proxy': 'http://127.0.0.1:8780'}}}},
                    'AllowFunnel': {NODE_DNS + ':443': True}}, indent=2)
ENV_FILE = ('CONVEX_SELF_HOSTED_URL=http://127.0.0.1:3210\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n'
            'INSTANCE_SECRET=%s\nexport AUTH_GITHUB_SECRET="gh0s3cr3tvalue"\n' % (ADMIN_KEY, INSTANCE_SECRET))
JSON_ENV = json.dumps({'JWT_PRIVATE_KEY': PEM, 'JWKS': '{"keys":[]}', 'token': JWT})
LAUNCHCTL = ('gui/501/com.joelclaw.convex-backup = {\n\tactive count = 0\n'
             '\tpath = /Users/joel/Library/LaunchAgents/com.joelclaw.convex-backup.plist\n'
             '\tusername = joel\n\tprogram = /Users/joel/src/joelclaw-macmini/.venv/bin/python\n}\n')
DOCKER = json.dumps([{'Name': '/joelclaw-controlplane-1', 'Config': {'Image': 'ghcr.io/siderolabs/talos@' + DIGEST},
                      'NetworkSettings': {'Networks': {'joelclaw': {'IPAddress': '10.5.0.2'}}}}])


@pytest.fixture(name='redactor')
def redactor_fixture():
    return kit.Redactor(user='joel', home='/Users/joel', names=['Joel Hooks'])


def test_redaction_removes_every_secret_kind(redactor):
    out = redactor.redact(ENV_FILE + JSON_ENV + '\n' + JWT + '\n' + PEM)
    for secret in (ADMIN_KEY, INSTANCE_SECRET, 'gh0s3cr3tvalue', JWT, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
                   'bm90LWEtcmVhbC1rZXktYnV0LXNoYXBlZC1saWtlLW9uZQ=='):
        assert secret not in out
    assert 'CONVEX_SELF_HOSTED_ADMIN_KEY=REDACTED-ADMIN-KEY-1' in out
    assert 'REDACTED-PRIVATE-KEY-1' in out
    assert 'REDACTED-JWT-1' in out
    assert 'CONVEX_SELF_HOSTED_URL=http://127.0.0.1:3210' in out


def test_redaction_removes_tailnet_identities_and_addresses(redactor):
    out = redactor.redact(STATUS)
    for leak in (TAILNET, 'tail4a2b3', 'joels-mac-mini', 'Joels-Mac-mini', 'joels-iphone', 'joel@example.com',
                 'Joel Hooks', '100.101.102.103', '100.88.1.2', 'fd7a:115c:a1e0:ab12:4843:cd96:6265:6667',
                 'fd7a:115c:a1e0::99', '203.0.113.7', '198.51.100.4'):
        assert leak not in out, leak
    data = json.loads(out)
    assert data['Self']['DNSName'] == 'node-1.tailnet-1.ts.net.'
    assert data['Self']['HostName'] == 'node-1'
    assert data['Peer']['nodekey:abc']['DNSName'] == 'node-2.tailnet-1.ts.net.'
    assert data['CurrentTailnet']['MagicDNSSuffix'] == 'tailnet-1.ts.net'
    # Quad-100, tailscaled's fixed MagicDNS resolver, is the same on every tailnet.
    assert redactor.redact('nameserver 100.100.100.100') == 'nameserver 100.100.100.100'
    assert data['TailscaleIPs'][0].startswith('100.64.0.')
    assert data['TailscaleIPs'][1].startswith('fd7a:115c:a1e0::')


def test_redaction_is_stable_across_files(redactor):
    status = json.loads(redactor.redact(STATUS))
    serve = json.loads(redactor.redact(SERVE))
    host = status['Self']['DNSName'].rstrip('.')
    assert list(serve['Web']) == [host + ':443']
    assert status['Self']['TailscaleIPs'] == [status['TailscaleIPs'][0]]


def test_redaction_removes_user_and_home_and_keeps_what_is_not_secret(redactor):
    out = redactor.redact(LAUNCHCTL + DOCKER)
    assert 'joel' not in out.replace('joelclaw', '')
    assert '/Users/USER/Library/LaunchAgents/com.joelclaw.convex-backup.plist' in out
    assert DIGEST in out
    assert '10.5.0.2' in out
    assert 'com.joelclaw.convex-backup' in out


# ---------------------------------------------------------------- (b) the kit end to end, with fakes

def _kit_python():
    """macOS runs the kit with its own Python 3.9: use RECORD_KIT_PYTHON, or a working python3.9."""
    if os.environ.get('RECORD_KIT_PYTHON'):
        return os.environ['RECORD_KIT_PYTHON']
    found = shutil.which('python3.9')
    if found:
        real = subprocess.run([found, '-c', 'import sys; print(sys.executable)'], capture_output=True, text=True,
                              check=False).stdout.strip()
        if real:
            return real
    return sys.executable


def _backup_dir(tmp_path):
    backups = tmp_path / 'backups'
    backups.mkdir()
    # A small archive in the export's shape (a documents.jsonl per table and _tables/documents.jsonl).
    with zipfile.ZipFile(str(backups / 'snapshot_joelclaw_1764633600000000000.zip'), 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('_tables/documents.jsonl', '{"name":"messages","id":10001}\n')
        archive.writestr('messages/documents.jsonl', ''.join('{"_id":"k%d","body":"hi"}\n' % i for i in range(200)))
    return backups


@pytest.fixture(name='recording')
def recording_fixture(tmp_path):
    fakes = tmp_path / 'bin'
    fakes.mkdir()
    mac_recording_clis.install(fakes)
    home = tmp_path / 'home'
    home.mkdir()
    out = tmp_path / 'recorded' / '2026-12-02'
    standin = convex_standin.ConvexStandin('joelclaw', 'ab' * 32).start()
    try:
        env = {'PATH': '%s:/usr/bin:/bin' % fakes, 'HOME': str(home), 'LC_ALL': 'C.UTF-8', 'PYTHON': _kit_python()}
        result = subprocess.run(['bash', KIT, '--out', str(out), '--backend-url', standin.url,
                                 '--backup-dir', str(_backup_dir(tmp_path))],
                                env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        standin.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result, home


def test_kit_does_not_mix_two_runs_in_one_directory(recording):
    out, _result, _home = recording
    before = sorted(os.listdir(str(out)))
    result = subprocess.run(['bash', KIT, '--out', str(out)], env={'PATH': '/usr/bin:/bin', 'PYTHON': _kit_python()},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert 'already holds a recording' in result.stderr
    assert sorted(os.listdir(str(out))) == before


def test_kit_records_with_fakes_and_every_parser_reads_it(recording):
    out, result, _home = recording
    manifest = json.loads((out / 'manifest.json').read_text())
    by_file = dict((entry['file'], entry) for entry in manifest['entries'])
    # Tools absent from this machine are recorded as missing, not fatal.
    assert by_file['brew-info.json']['missing'] is True
    assert by_file['launchctl-print-gui-com.joelclaw.convex-backup.txt']['missing'] is True
    assert by_file['colima-list.json']['exit_code'] == 0
    assert by_file['tailscale-version.txt']['exit_code'] == 1
    assert 'missing (tool or service not there)' in result.stdout
    parsed, skipped = recorded_parsers.check_recording(str(out))
    assert sorted(parsed) == sorted(recorded_parsers.PARSERS), skipped
    assert parsed['docker-inspect.json'][1][0]['name'] == 'joelclaw-controlplane-1'
    assert parsed['tailscale-serve-status.json'][1], 'serve entries lost: host placeholders differ between files'
    assert parsed['backend-instance-name.json'][1] == 'joelclaw'


def test_kit_output_holds_no_identity_of_the_fixtures(recording):
    out, _result, home = recording
    text = '\n'.join(open(path, encoding='utf-8', errors='replace').read() for path in glob.glob(str(out / '*')))
    for leak in ('example-tailnet', 'macmini.', '100.101.102.103', 'fd7a:115c:a1e0::1234:5678', str(home)):
        assert leak not in text, leak


def test_kit_inspect_keeps_only_the_fields_the_parser_reads(recording):
    out, _result, _home = recording
    items = json.loads((out / 'docker-inspect.json').read_text())
    assert sorted(items[0]) == ['Config', 'HostConfig', 'Name', 'NetworkSettings', 'State']
    assert sorted(items[0]['Config']) == ['Image', 'Labels']
    assert 'Env' not in json.dumps(items)


def test_parser_check_refuses_a_recording_nobody_decided_on(recording):
    out, _result, _home = recording
    (out / 'kubectl-get-nodes.txt').write_text('NAME STATUS\n')
    with pytest.raises(AssertionError, match='kubectl-get-nodes.txt'):
        recorded_parsers.check_recording(str(out))


def test_parser_check_fails_when_a_parser_rejects_a_recording(recording):
    out, _result, _home = recording
    (out / 'colima-list.json').write_text('PROFILE STATUS\ndefault Running\n')
    with pytest.raises(AssertionError, match='_colima.parse_list'):
        recorded_parsers.check_recording(str(out))


# ---------------------------------------------------------------- (b) every real recording

REAL = sorted(path for path in glob.glob(os.path.join(RECORDED, '*')) if os.path.isfile(os.path.join(path, 'manifest.json')))


@pytest.mark.parametrize('directory', REAL or [None], ids=[os.path.basename(p) for p in REAL] or ['none'])
def test_every_parser_over_every_recording(directory):
    if directory is None:
        pytest.skip('no recordings under tests/fixtures/recorded/ yet: run scripts/record-mac-fixtures on the Mac '
                    '(see CONTRIBUTING.md); the dry run with fakes above covers the parser dispatch')
    parsed, _skipped = recorded_parsers.check_recording(directory)
    assert parsed, 'nothing in %s could be parsed' % directory
