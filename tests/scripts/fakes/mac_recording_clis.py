# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only stand-ins for colima, talosctl, docker and tailscale, for a dry run of the recording kit.

They answer only the read commands scripts/record-mac-fixtures runs, by replaying the fixtures the
module tests already use; each fixture says which upstream source it was written from:
- colima version / list --json / status --json: tests/unit/plugins/modules/fixtures/colima_talos/
  colima_version.txt, colima_list_json.ndjson, colima_status_json.json;
- talosctl cluster show: talosctl_cluster_show.txt (same folder);
- docker ps --format '{{.Names}}' and docker inspect --format: docker_inspect_exited.json (same folder).
  `--format` is docker's Go text/template over each inspect object, and `{{json .A.B}}` is its `json`
  function (docker/cli templates/templates.go); this fake evaluates only that form, one line per
  container, which is all the kit asks for;
- tailscale status --json / serve status --json: tests/unit/plugins/modules/fixtures/tailscale_serve/
  status_funnel_allowed.json, serve_configured.json.
Anything else (e.g. `talosctl version`, `tailscale version`) exits 1 with "unsupported", which the
kit records as a failed command, as it would a real failure.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'unit', 'plugins', 'modules', 'fixtures')


def install(directory):
    for name in ('colima', 'talosctl', 'docker', 'tailscale'):
        path = os.path.join(str(directory), name)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('#!/bin/sh\nexec "%s" "%s" %s "$@"\n' % (sys.executable, os.path.abspath(__file__), name))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding='utf-8') as handle:
        return handle.read()


def _lookup(obj, path):
    for part in path.split('.'):
        if not part:
            continue
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _template(fmt, obj):
    unsupported = re.sub(r'\{\{json (\.[A-Za-z.]*)\}\}', '', fmt)
    if '{{' in unsupported:
        raise SystemExit('fake docker: only {{json .Field}} templates are modelled: %r' % fmt)
    return re.sub(r'\{\{json (\.[A-Za-z.]*)\}\}', lambda m: json.dumps(_lookup(obj, m.group(1))), fmt)


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    if tool == 'colima' and args == ['version']:
        sys.stdout.write(_fixture('colima_talos', 'colima_version.txt'))
    elif tool == 'colima' and args == ['list', '--json']:
        sys.stdout.write(_fixture('colima_talos', 'colima_list_json.ndjson'))
    elif tool == 'colima' and args[:2] == ['status', '--json']:
        sys.stdout.write(_fixture('colima_talos', 'colima_status_json.json'))
    elif tool == 'talosctl' and args[:2] == ['cluster', 'show']:
        sys.stdout.write(_fixture('colima_talos', 'talosctl_cluster_show.txt'))
    elif tool == 'docker' and args[:1] in (['ps'], ['inspect']):
        containers = json.loads(_fixture('colima_talos', 'docker_inspect_exited.json'))
        if args[0] == 'ps':
            for item in containers:
                print(item['Name'].lstrip('/'))
            return 0
        fmt = args[args.index('--format') + 1]
        wanted = args[args.index('--format') + 2:]
        for item in containers:
            if item['Name'].lstrip('/') in wanted:
                print(_template(fmt, item))
    elif tool == 'tailscale' and args == ['status', '--json']:
        sys.stdout.write(_fixture('tailscale_serve', 'status_funnel_allowed.json'))
    elif tool == 'tailscale' and args == ['serve', 'status', '--json']:
        sys.stdout.write(_fixture('tailscale_serve', 'serve_configured.json'))
    else:
        sys.stderr.write('fake %s: unsupported %r\n' % (tool, args))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
