# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-in for the two `docker` subcommands that ask a registry about an image.

Only `docker manifest inspect <ref>` and `docker pull <ref>` are played; anything else exits 1.
The registry is a JSON file named by $FAKE_DOCKER_IMAGES: {"images": {ref: [platform, ...]},
"daemon_host": "unix://.../docker.sock", "calls": [...]}. Every call is logged with its DOCKER_HOST.

Where the behaviour was read (github:docker/cli at 28f756087eea5fa301f3fbf12b01ae62f91521c2, v29.7.2-16):
* cli/command/manifest/inspect.go `runInspect`: `manifest inspect` is client side. It asks the
  registry directly (internal/registryclient), not the daemon, so DOCKER_HOST does not matter to it.
  For a tag that is a manifest list it prints the list as JSON (printManifestList: MarshalJSON of a
  manifestlist, 3-space indent, as in cli/command/manifest/testdata/inspect-manifest-list.golden).
* internal/registryclient/fetcher.go: an unknown tag is `no such manifest: <ref>`.
* cmd/docker/docker.go `main`/`getExitCode`: the error goes to stderr, exit code 1.
* The upstream images are manifest lists of linux/amd64 and linux/arm64: get-convex/convex-backend
  .github/workflows/release_self_hosted_images.yml (`docker manifest create ... --amend` x64 + arm64).
* `docker pull` goes through the daemon at DOCKER_HOST. With no daemon there it prints
  `Cannot connect to the Docker daemon at <host>. Is the docker daemon running?` (as the colima
  fake in macos_clis.py). An unknown tag: moby distribution/errors.go `translatePullError` words
  it `manifest for <ref> not found: manifest unknown` (read in a code-search excerpt of moby, not at
  a pinned commit); the `Error response from daemon: ` prefix and the trailing repeat of
  `manifest unknown` are guessed, and so are the progress lines of a successful pull (the module
  reads only the exit code and stderr); listed in roles/convex_backend/README.md, to check on the Mac.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys


def install(directory, python=None):
    """Write an executable `docker` into directory that runs this file."""
    python = python or sys.executable
    path = os.path.join(str(directory), 'docker')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (python, os.path.abspath(__file__)))
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return path


def manifest_list(ref, platforms):
    manifests = []
    for number, platform in enumerate(platforms):
        os_name, arch = platform.split('/', 1)
        manifests.append({
            'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',
            'size': 528,
            'digest': 'sha256:' + hashlib.sha256(('%s#%d' % (ref, number)).encode()).hexdigest(),
            'platform': {'architecture': arch, 'os': os_name},
        })
    return {'schemaVersion': 2, 'mediaType': 'application/vnd.docker.distribution.manifest.list.v2+json',
            'manifests': manifests}


def main(argv):
    state_path = os.environ['FAKE_DOCKER_IMAGES']
    with open(state_path, encoding='utf-8') as handle:
        state = json.load(handle)
    state.setdefault('calls', []).append({'argv': argv, 'docker_host': os.environ.get('DOCKER_HOST', '')})
    with open(state_path, 'w', encoding='utf-8') as handle:
        json.dump(state, handle, indent=1)
    images = state.get('images', {})
    if argv[:2] == ['manifest', 'inspect'] and len(argv) == 3:
        ref = argv[2]
        if ref not in images:
            sys.stderr.write('no such manifest: %s\n' % ref)
            return 1
        sys.stdout.write(json.dumps(manifest_list(ref, images[ref]), indent=3) + '\n')
        return 0
    if argv[:1] == ['pull'] and len(argv) == 2:
        host = os.environ.get('DOCKER_HOST') or 'unix:///var/run/docker.sock'
        if host != state.get('daemon_host'):
            sys.stderr.write('Cannot connect to the Docker daemon at %s. Is the docker daemon running?\n' % host)
            return 1
        ref = argv[1]
        if ref not in images:
            sys.stderr.write('Error response from daemon: manifest for %s not found: manifest unknown: '
                             'manifest unknown\n' % ref)
            return 1
        tag = ref.rsplit(':', 1)[1]
        sys.stdout.write('%s: Pulling from %s\nDigest: sha256:%s\nStatus: Downloaded newer image for %s\n%s\n'
                         % (tag, ref.rsplit(':', 1)[0], hashlib.sha256(ref.encode()).hexdigest(), ref, ref))
        return 0
    sys.stderr.write('fake docker (docker_images.py): unsupported command %r\n' % (argv,))
    return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
