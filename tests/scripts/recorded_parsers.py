# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every parser of the collection over one directory written by scripts/record-mac-fixtures.

check_recording(directory) reads manifest.json, feeds each successful recording to the public
functions of plugins/module_utils that read that output in the modules, and returns what it did.
A parser that raises, or answers with nothing where the recording holds something, fails the check.
Every file in the directory must be known here: either parsed, or listed in RECORDED_ONLY with the
reason no parser reads it, so a new recording cannot slip past unparsed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, '.collections'))

# pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _colima, _talos, _tailscale_serve  # noqa: E402
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient  # noqa: E402
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import StreamingZipCheck  # noqa: E402

# Recorded for people and for parsers to come; nothing in the collection parses them today.
RECORDED_ONLY = {
    'talosctl-version-client.txt': 'no module reads the talosctl version yet',
    'talosctl-version.txt': 'no module reads the talosctl version yet',
    'tailscale-version.txt': 'no module reads the tailscale version',
    'brew-info.json': 'community.general.homebrew reads brew, not this collection',
    'export-tail.bin': 'the verifier reads whole archives; the tail shows the zip64 end records',
}
RECORDED_ONLY_PREFIXES = ('launchctl-print-',)


def _text(directory, name):
    with open(os.path.join(directory, name), encoding='utf-8') as handle:
        return handle.read()


def _colima_version(text, context):
    version = _colima.parse_version(text)
    assert version is not None, '_colima.parse_version found no version in %r' % text[:200]
    return version


def _colima_list(text, context):
    return sorted(_colima.parse_list(text))


def _colima_status(text, context):
    return sorted(_colima.parse_status(text))


def _cluster_show(text, context):
    parsed = _talos.parse_cluster_show(text)
    context['cluster'] = parsed['fields']['NAME']
    return parsed


def _docker_names(text, context):
    names = _talos.parse_names(text)
    assert names or not text.strip(), '_talos.parse_names found no names in %r' % text[:200]
    return names


def _docker_inspect(text, context):
    nodes = _talos.summarize(context.get('cluster', ''), _talos.parse_inspect(text))
    assert all(node['name'] and node['state'] for node in nodes), nodes
    return nodes


def _tailscale_status(text, context):
    info = _tailscale_serve.node_info(_tailscale_serve.parse_json(text, '`tailscale status --json`'))
    context['host'] = info['dns_name']
    return info


def _serve_status(text, context):
    config = _tailscale_serve.parse_json(text, '`tailscale serve status --json`')
    entries = _tailscale_serve.current_entries(config, context.get('host', ''))
    # Handlers recorded for the node must be found under its (redacted) name.
    assert entries or not config.get('TCP'), 'serve config has TCP ports but none for host %r' % context.get('host')
    return entries


def _replay(answer, call):
    """Serve one recorded HTTP answer on loopback and let the collection's client read it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = answer['body'].encode('utf-8')
            self.send_response(answer['status'])
            if answer.get('content_type'):
                self.send_header('Content-Type', answer['content_type'])
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = ConvexClient('http://127.0.0.1:%d' % server.server_address[1], timeout=5, retries=0)
        return call(client)
    finally:
        server.shutdown()
        server.server_close()


def _backend(method):
    def parse(text, context):
        answer = json.loads(text)
        value = _replay(answer, lambda client: getattr(client, method)())
        assert value == answer['body'].strip(), (value, answer['body'])
        return value
    return parse


def _export_head(data, context):
    check = StreamingZipCheck()
    check.feed(data)
    assert check.error is None, 'StreamingZipCheck rejected the first KB: %s' % check.error
    return {'checked': list(check.checked), 'unchecked': list(check.unchecked)}


PARSERS = {
    'colima-version.txt': ('_colima.parse_version', _colima_version),
    'colima-list.json': ('_colima.parse_list', _colima_list),
    'colima-status.json': ('_colima.parse_status', _colima_status),
    'talosctl-cluster-show.txt': ('_talos.parse_cluster_show', _cluster_show),
    'docker-ps-names.txt': ('_talos.parse_names', _docker_names),
    'docker-inspect.json': ('_talos.parse_inspect + summarize', _docker_inspect),
    'tailscale-status.json': ('_tailscale_serve.parse_json + node_info', _tailscale_status),
    'tailscale-serve-status.json': ('_tailscale_serve.parse_json + current_entries', _serve_status),
    'backend-version.json': ('ConvexClient.version', _backend('version')),
    'backend-instance-name.json': ('ConvexClient.instance_name_live', _backend('instance_name_live')),
    'export-head.bin': ('_convex_snapshot.StreamingZipCheck', _export_head),
}
# Order matters: the cluster name and the node's DNS name feed the parsers after them.
ORDER = list(PARSERS)


def _succeeded(entry):
    if entry.get('missing'):
        return False
    if entry['what'] == 'http':
        return entry.get('status') == 200
    if entry['what'] == 'command':
        return entry.get('exit_code') == 0
    return True


def check_recording(directory):
    """Parse every recording in directory; returns {file: (parser, result)} and the skipped files."""
    with open(os.path.join(directory, 'manifest.json'), encoding='utf-8') as handle:
        manifest = json.load(handle)
    entries = dict((entry['file'], entry) for entry in manifest['entries'])
    present = sorted(name for name in os.listdir(directory) if name != 'manifest.json')
    unknown = [name for name in present
               if not name.endswith('.stderr') and name not in PARSERS and name not in RECORDED_ONLY
               and not name.startswith(RECORDED_ONLY_PREFIXES)]
    assert not unknown, 'recordings no parser decision covers (add them to PARSERS or RECORDED_ONLY): %s' % unknown
    context, parsed, skipped = {}, {}, {}
    for name in ORDER:
        entry = entries.get(name)
        if entry is None or name not in present or not _succeeded(entry):
            skipped[name] = 'not recorded' if entry is None else ('missing' if entry.get('missing') else 'failed on the Mac')
            continue
        label, parse = PARSERS[name]
        if name.endswith('.bin'):
            with open(os.path.join(directory, name), 'rb') as handle:
                data = handle.read()
        else:
            data = _text(directory, name)
        try:
            parsed[name] = (label, parse(data, context))
        except Exception as exc:  # pylint: disable=broad-except
            raise AssertionError('%s failed on %s: %s: %s' % (label, os.path.join(directory, name), type(exc).__name__, exc))
    return parsed, skipped
