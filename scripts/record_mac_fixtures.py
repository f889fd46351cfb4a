# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record, once on the real Mac, every CLI output and HTTP answer the collection's modules parse.

Run it on the Mac after a converge (or at any point: what is missing is recorded as missing):

    scripts/record-mac-fixtures            # (a wrapper that runs this file) writes tests/fixtures/recorded/<YYYY-MM-DD>/
    scripts/record-mac-fixtures --help     # profile, cluster, backend URL, backup dir, output dir

Standard library only, and Python 3.9 compatible: it runs with macOS's own /usr/bin/python3 before
any bootstrap. Everything it writes is redacted first (see Redactor): admin keys, instance secrets,
JWTs and private keys, tailnet and node names, Tailscale addresses, user names and home paths are
replaced by stable placeholders (the same value gets the same placeholder in every file). Review the
directory before committing it; manifest.json lists each command, its exit code and when it ran.

`docker inspect` is never recorded whole (the node's Config.Env holds the Talos machine config with
its CA keys): only the fields plugins/module_utils/_talos.py (summarize, node_role) reads are asked
for with --format, and the network entries are cut down to their two address fields.
"""

from __future__ import print_function

import argparse
import datetime
import getpass
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

from urllib.error import HTTPError, URLError
from urllib.request import urlopen

KIT_VERSION = 1
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
KB = 1024

# The formulas the roles install: roles/colima_talos/defaults/main.yml (colima_talos_homebrew_packages)
# and roles/caddy_tailscale/tasks/install_Darwin.yml (caddy).
FORMULAS = ['colima', 'docker', 'talosctl', 'kubernetes-cli', 'caddy']
# The launchd labels the roles install: colima_talos_boot_label, convex_backup_launchd_label, and
# homebrew.mxcl.caddy (community.general.homebrew_services in roles/caddy_tailscale/tasks/service_Darwin.yml).
LABELS = ['com.joelclaw.colima-talos', 'com.joelclaw.convex-backup', 'homebrew.mxcl.caddy']

# Only the fields _talos.summarize/node_role read; each `{{json .X}}` is docker's text/template
# `json` function (docker/cli templates/templates.go). One line per container.
DOCKER_INSPECT_FORMAT = (
    '{"Name":{{json .Name}},'
    '"State":{"Status":{{json .State.Status}}},'
    '"Config":{"Image":{{json .Config.Image}},"Labels":{{json .Config.Labels}}},'
    '"HostConfig":{"NanoCpus":{{json .HostConfig.NanoCpus}},"Memory":{{json .HostConfig.Memory}},'
    '"RestartPolicy":{{json .HostConfig.RestartPolicy}},"PortBindings":{{json .HostConfig.PortBindings}}},'
    '"NetworkSettings":{"Networks":{{json .NetworkSettings.Networks}}}}'
)


# ---------------------------------------------------------------- redaction

SECRET_NAME = r'[A-Za-z0-9_]*(?:SECRET|PASSWORD|TOKEN|PRIVATE_KEY|ADMIN_KEY|JWKS|AUTH_KEY|API_KEY)[A-Za-z0-9_]*'
# Keys of `tailscale status --json` (ipnstate.Status, tailscale/ipn/ipnstate/ipnstate.go) that name the
# person or the machine: HostName/DNSName of Self and every peer, the user profiles, the tailnet.
IDENTITY_KEYS = ('HostName', 'LoginName', 'DisplayName', 'ProfilePicURL')


class Redactor(object):
    """Replace secrets and identities with stable placeholders.

    One instance is used for a whole recording, so a node name or an address gets the same
    placeholder in every file (the serve config's host then still matches the status's DNSName).
    """

    def __init__(self, user=None, home=None, names=()):
        self.maps = {}
        self.user = user
        self.home = home
        self.names = [n for n in names if n]

    def _placeholder(self, kind, value, fmt):
        table = self.maps.setdefault(kind, {})
        if value not in table:
            table[value] = fmt % (len(table) + 1)
        return table[value]

    def _secret(self, kind):
        return lambda match: self._placeholder(kind, match.group(0), 'REDACTED-' + kind + '-%d')

    def _tailnet_name(self, match):
        node, tailnet = match.group('node'), match.group('tailnet')
        tail = self._placeholder('tailnet', tailnet.lower(), 'tailnet-%d') + '.ts.net'
        if node:
            return self._placeholder('node', node.lower(), 'node-%d') + '.' + tail
        return tail

    def _ipv4(self, match):
        if match.group(0) == '100.100.100.100':
            return match.group(0)
        return self._placeholder('ipv4', match.group(0), '100.64.0.%d')

    def _ipv6(self, match):
        return self._placeholder('ipv6', match.group(0).lower(), 'fd7a:115c:a1e0::%x')

    def _json_identity(self, match):
        key, value = match.group('key'), match.group('value')
        if not value or value.endswith('.ts.net') or value.endswith('.ts.net.'):
            return match.group(0)
        if key == 'HostName' and value.lower() in self.maps.get('node', {}):
            # The MagicDNS label is the host name lowercased: keep them one placeholder.
            return '"%s":%s"%s"' % (key, match.group('sep'), self.maps['node'][value.lower()])
        return '"%s":%s"%s"' % (key, match.group('sep'), self._placeholder('identity', value, 'identity-%d'))

    def _env_value(self, match):
        if match.group('value').startswith('REDACTED-'):
            return match.group(0)
        return match.group('lead') + self._placeholder('SECRET', match.group('value'), 'REDACTED-SECRET-%d')

    def redact(self, text):
        """Return text with every secret and identity replaced."""
        # Private keys first (PEM, also with JSON-escaped newlines), then JWTs, then admin keys.
        text = re.sub(r'-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----',
                      self._secret('PRIVATE-KEY'), text, flags=re.S)
        text = re.sub(r'\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*', self._secret('JWT'), text)
        # Convex admin keys: <instance name>|<hex> (convex-backend crates/keybroker, self-hosted keys).
        text = re.sub(r'\b[A-Za-z0-9_-]+\|[0-9a-fA-F]{32,}\b', self._secret('ADMIN-KEY'), text)
        # NAME=value and "name": "value" where the name says secret.
        text = re.sub(r'(?P<lead>\b%s\s*=\s*["\']?)(?P<value>[^\s"\']+)' % SECRET_NAME, self._env_value, text)
        text = re.sub(r'(?P<lead>"%s"\s*:\s*")(?P<value>(?:[^"\\]|\\.)+)' % SECRET_NAME, self._env_value, text, flags=re.I)
        # Instance secrets are 64 hex characters; image digests (sha256:...) stay.
        text = re.sub(r'(?<![0-9A-Za-z:])[0-9a-fA-F]{64}(?![0-9A-Za-z])', self._secret('HEX64'), text)
        # Tailnet names: <node>.<tailnet>.ts.net and <tailnet>.ts.net.
        text = re.sub(r'(?:(?P<node>[A-Za-z0-9-]+)\.)?(?P<tailnet>[A-Za-z0-9-]+)\.ts\.net', self._tailnet_name, text)
        # Identity fields of `tailscale status --json` (user, host and tailnet names).
        text = re.sub(r'"(?P<key>%s)":(?P<sep>\s*)"(?P<value>[^"]*)"' % '|'.join(IDENTITY_KEYS),
                      self._json_identity, text)
        text = re.sub(r'"Name":(?P<sep>\s*)"(?P<value>[^"]*)"(?=[^{}]*"MagicDNSSuffix")',
                      lambda m: '"Name":%s"%s"' % (m.group('sep'), self._placeholder('identity', m.group('value'), 'identity-%d'))
                      if m.group('value') else m.group(0), text)
        # Where peers were reached from (public addresses of the home network): Addrs, CurAddr.
        text = re.sub(r'"(?P<key>CurAddr|Relay|PeerRelay)":(?P<sep>\s*)"(?P<value>[^"]+)"',
                      lambda m: '"%s":%s"%s"' % (m.group('key'), m.group('sep'),
                                                 self._placeholder('addr', m.group('value'), 'addr-%d')), text)
        text = re.sub(r'"Addrs":\s*\[[^\]]*\]', lambda m: re.sub(
            r'"([^"]+)"', lambda a: a.group(0) if a.group(1) == 'Addrs' else '"%s"' % self._placeholder('addr', a.group(1), 'addr-%d'),
            m.group(0)), text)
        # Tailscale addresses: 100.64.0.0/10 (CGNAT) and fd7a:115c:a1e0::/48; 100.100.100.100 is the
        # fixed MagicDNS resolver and stays.
        text = re.sub(r'(?<![0-9.])100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9.])',
                      self._ipv4, text)
        text = re.sub(r'(?i)\bfd7a:115c:a1e0:[0-9a-f:]*[0-9a-f]', self._ipv6, text)
        # Home paths, the user name and any other names given (full name, machine name).
        if self.home and self.home not in ('/', ''):
            text = text.replace(self.home.rstrip('/') + '/', '/Users/USER/').replace(self.home.rstrip('/'), '/Users/USER')
        text = re.sub(r'/Users/(?!USER\b|Shared\b)[^/\s"\']+', '/Users/USER', text)
        for name in sorted(set(self.names + ([self.user] if self.user else [])), key=len, reverse=True):
            pattern = r'(?<![A-Za-z0-9])%s(?![A-Za-z0-9])' % re.escape(name)
            if len(name) >= 3 and re.search(pattern, text):
                text = re.sub(pattern, self._placeholder('identity', name, 'identity-%d'), text)
        # Everything already replaced anywhere else stays replaced here too.
        for kind in ('identity', 'node'):
            for value, placeholder in sorted(self.maps.get(kind, {}).items(), key=lambda kv: -len(kv[0])):
                if len(value) >= 3:
                    text = re.sub(r'(?<![A-Za-z0-9])%s(?![A-Za-z0-9])' % re.escape(value), placeholder, text)
        return text


# ---------------------------------------------------------------- recording

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class Recorder(object):
    def __init__(self, out, redactor, env=None):
        self.out = out
        self.redactor = redactor
        self.env = env
        self.entries = []
        self.raw_stdout = {}
        if not os.path.isdir(out):
            os.makedirs(out)

    def _write(self, name, data):
        path = os.path.join(self.out, name)
        mode = 'wb' if isinstance(data, bytes) else 'w'
        with open(path, mode) as handle:
            handle.write(data)
        return name

    def _entry(self, name, what, **fields):
        entry = {'file': name, 'what': what, 'when': utc_now()}
        entry.update(fields)
        self.entries.append(entry)
        return entry

    def command(self, name, argv, env=None, stdout_filter=None):
        """Run argv, write its redacted stdout to name (stderr next to it); missing tools are recorded."""
        tool = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
        shown = [self.redactor.redact(a) for a in argv]
        if not tool or not os.access(tool, os.X_OK):
            return self._entry(name, 'command', command=shown, missing=True, exit_code=None)
        full_env = dict(os.environ)
        full_env.update(self.env or {})
        full_env.update(env or {})
        started = time.time()
        try:
            proc = subprocess.run([tool] + list(argv[1:]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=full_env, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return self._entry(name, 'command', command=shown, missing=False, exit_code=None, error='timed out after 60 s')
        stdout = proc.stdout.decode('utf-8', 'replace')
        self.raw_stdout[name] = stdout
        if stdout_filter is not None and proc.returncode == 0:
            stdout = stdout_filter(stdout)
        self._write(name, self.redactor.redact(stdout))
        fields = {'command': shown, 'missing': False, 'exit_code': proc.returncode,
                  'seconds': round(time.time() - started, 3)}
        stderr = proc.stderr.decode('utf-8', 'replace')
        if stderr.strip():
            fields['stderr_file'] = self._write(name + '.stderr', self.redactor.redact(stderr))
        return self._entry(name, 'command', **fields)

    def http(self, name, url):
        """GET url; the answer (status, Content-Type, body) is written as JSON."""
        started = time.time()
        try:
            with urlopen(url, timeout=10) as response:  # nosec - a loopback URL the person gives
                status, ctype, body = response.status, response.headers.get('Content-Type'), response.read()
        except HTTPError as exc:
            status, ctype, body = exc.code, exc.headers.get('Content-Type'), exc.read()
        except (URLError, OSError, ValueError) as exc:
            return self._entry(name, 'http', url=self.redactor.redact(url), missing=True, error=str(exc))
        answer = {'url': url, 'status': status, 'content_type': ctype, 'body': body.decode('utf-8', 'replace')}
        self._write(name, self.redactor.redact(json.dumps(answer, indent=1, sort_keys=True)) + '\n')
        return self._entry(name, 'http', url=self.redactor.redact(url), missing=False, status=status,
                           seconds=round(time.time() - started, 3))

    def export_ends(self, backup_dir):
        """First and last KB of the newest export ZIP in backup_dir."""
        zips = sorted(glob.glob(os.path.join(backup_dir, '*.zip')), key=os.path.getmtime)
        if not zips:
            self._entry('export-head.bin', 'export', missing=True, backup_dir=self.redactor.redact(backup_dir))
            return
        newest = zips[-1]
        size = os.path.getsize(newest)
        with open(newest, 'rb') as handle:
            head = handle.read(KB)
            handle.seek(max(0, size - KB))
            tail = handle.read(KB)
        self._write('export-head.bin', head)
        self._write('export-tail.bin', tail)
        for name in ('export-head.bin', 'export-tail.bin'):
            self._entry(name, 'export', missing=False, source=self.redactor.redact(newest), size=size)

    def manifest(self, args):
        data = {'kit_version': KIT_VERSION,
                'recorded_at': utc_now(),
                'python': '%d.%d.%d' % tuple(sys.version_info[:3]),
                'settings': {k: self.redactor.redact(str(v)) for k, v in sorted(vars(args).items())},
                'entries': self.entries}
        self._write('manifest.json', json.dumps(data, indent=1, sort_keys=True) + '\n')


def reduce_inspect(stdout):
    """docker inspect --format lines -> the JSON array _talos.parse_inspect reads, networks cut down."""
    items = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        networks = (item.get('NetworkSettings') or {}).get('Networks') or {}
        item['NetworkSettings']['Networks'] = dict(
            (name, {'IPAddress': (net or {}).get('IPAddress', ''),
                    'IPAMConfig': {'IPv4Address': ((net or {}).get('IPAMConfig') or {}).get('IPv4Address', '')}})
            for name, net in networks.items())
        items.append(item)
    return json.dumps(items, indent=1, sort_keys=True) + '\n'


def find_tailscale():
    found = shutil.which('tailscale')
    if found:
        return found
    app = '/Applications/Tailscale.app/Contents/MacOS/Tailscale'
    return app if os.path.exists(app) else 'tailscale'


def docker_host(profile, home):
    """Colima's socket for the profile: the module passes it as DOCKER_HOST (Talos ignores contexts)."""
    if os.environ.get('DOCKER_HOST'):
        return os.environ['DOCKER_HOST']
    base = os.environ.get('COLIMA_HOME') or os.path.join(home, '.colima')
    folder = 'default' if profile == 'default' else profile
    return 'unix://' + os.path.join(base, folder, 'docker.sock')


def record(args, redactor):
    home = os.path.expanduser('~')
    rec = Recorder(args.out, redactor)
    rec.command('colima-version.txt', ['colima', 'version'])
    rec.command('colima-list.json', ['colima', 'list', '--json'])
    rec.command('colima-status.json', ['colima', 'status', '--json', '--profile', args.profile])
    rec.command('talosctl-version-client.txt', ['talosctl', 'version', '--client'])
    rec.command('talosctl-version.txt', ['talosctl', '--talosconfig', args.talosconfig, 'version'])
    rec.command('talosctl-cluster-show.txt', ['talosctl', 'cluster', 'show', '--name', args.cluster,
                                              '--state', args.talos_state])
    env = {'DOCKER_HOST': docker_host(args.profile, home)}
    rec.command('docker-ps-names.txt', ['docker', 'ps', '--all', '--filter', 'label=talos.cluster.name=' + args.cluster,
                                        '--format', '{{.Names}}'], env=env)
    containers = rec.raw_stdout.get('docker-ps-names.txt', '').split()
    if containers:
        rec.command('docker-inspect.json', ['docker', 'inspect', '--format', DOCKER_INSPECT_FORMAT] + containers,
                    env=env, stdout_filter=reduce_inspect)
    tailscale = find_tailscale()
    rec.command('tailscale-version.txt', [tailscale, 'version'])
    rec.command('tailscale-status.json', [tailscale, 'status', '--json'])
    rec.command('tailscale-serve-status.json', [tailscale, 'serve', 'status', '--json'])
    rec.command('brew-info.json', ['brew', 'info', '--json=v2'] + FORMULAS)
    uid = os.getuid()
    for label in LABELS:
        rec.command('launchctl-print-gui-%s.txt' % label, ['launchctl', 'print', 'gui/%d/%s' % (uid, label)])
        rec.command('launchctl-print-system-%s.txt' % label, ['launchctl', 'print', 'system/%s' % label])
    rec.http('backend-version.json', args.backend_url.rstrip('/') + '/version')
    rec.http('backend-instance-name.json', args.backend_url.rstrip('/') + '/instance_name')
    rec.export_ends(args.backup_dir)
    rec.manifest(args)
    return rec


def parse_args(argv):
    home = os.path.expanduser('~')
    state = os.path.join(home, '.joelclaw')
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures', 'recorded',
                                                      datetime.date.today().isoformat()),
                        help='output directory (default: tests/fixtures/recorded/<today>)')
    parser.add_argument('--profile', default='default', help='Colima profile (colima_talos_profile)')
    parser.add_argument('--cluster', default='joelclaw', help='Talos cluster name (colima_talos_cluster_name)')
    parser.add_argument('--talos-state', default=os.path.join(home, '.talos', 'clusters'),
                        help='talosctl cluster state dir (talos_docker_cluster cluster_state_dir)')
    parser.add_argument('--talosconfig', default=os.path.join(state, 'talosconfig'), help='convex_talosconfig')
    parser.add_argument('--backend-url', default='http://127.0.0.1:3210', help='convex_admin_url')
    parser.add_argument('--backup-dir', default=os.path.join(state, 'backups'), help='convex_backup_dir')
    parser.add_argument('--force', action='store_true',
                        help='write into an output directory that already holds files (they are not removed)')
    parser.add_argument('--redact', action='append', default=[], metavar='WORD',
                        help='another word to replace everywhere (repeatable), e.g. your full name')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
        sys.stderr.write('%s already holds a recording; pass --out DIR for a new one, or --force to '
                         'write over it\n' % args.out)
        return 2
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    names = list(args.redact)
    try:
        import pwd  # pylint: disable=import-outside-toplevel
        gecos = pwd.getpwuid(os.getuid()).pw_gecos.split(',')[0]
        names.append(gecos)
    except (ImportError, KeyError):
        pass
    redactor = Redactor(user=user, home=os.path.expanduser('~'), names=names)
    rec = record(args, redactor)
    missing = [e['file'] for e in rec.entries if e.get('missing')]
    print('recorded %d outputs in %s' % (len(rec.entries) - len(missing), args.out))
    if missing:
        print('missing (tool or service not there): %s' % ', '.join(missing))
    print('review the files before you commit them: redaction replaces what it knows, not everything.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
