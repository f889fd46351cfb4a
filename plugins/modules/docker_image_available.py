#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: docker_image_available
short_description: Check that container images exist in their registry for a platform, before anything uses them
version_added: 0.2.0
description:
  - Asks the registry about each image in O(images) with the Docker CLI and fails, naming every image and
    tag that is missing, before a role applies manifests that would leave a pod in C(ImagePullBackOff).
  - With O(method=manifest) it runs C(docker manifest inspect), which asks the registry directly (the
    Docker CLI does this client side, whatever the daemon) and prints the manifest list; the module then
    checks that the list holds O(platform).
  - With O(method=pull) it runs C(docker pull) through the Docker daemon at O(docker_host), which proves
    that the daemon (Colima's VM) reaches the registry, at the cost of downloading the image there.
  - O(docker_host) defaults to Colima's socket for O(colima_profile), found the way the
    P(joelclaw.macmini.colima_profile#module) module finds it.
author:
  - Joel Hooks (@joelhooks)
options:
  images:
    description:
      - Image references with a tag, e.g. V(ghcr.io/get-convex/convex-backend:<sha>).
    type: list
    elements: str
    required: true
  method:
    description:
      - V(manifest) reads the manifest list from the registry without downloading layers.
      - V(pull) pulls each image through the daemon at O(docker_host).
    type: str
    choices: [manifest, pull]
    default: manifest
  platform:
    description:
      - The C(os/architecture) every image must offer (with O(method=manifest)). Empty skips the check.
    type: str
    default: linux/arm64
  docker_host:
    description:
      - E(DOCKER_HOST) for the Docker CLI. Empty uses Colima's socket for O(colima_profile).
    type: str
    default: ""
  colima_profile:
    description:
      - The Colima profile whose C(docker.sock) is used when O(docker_host) is empty.
    type: str
    default: default
  docker_path:
    description:
      - The C(docker) executable. Empty looks on E(PATH), then in C(/opt/homebrew/bin) and C(/usr/local/bin).
    type: path
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: O(method=manifest) only reads, so it runs in check mode. O(method=pull) reads the manifest instead in check mode.
  diff_mode:
    support: none
    details: Nothing to compare.
notes:
  - C(docker manifest inspect) uses the registry credentials of the Docker CLI (C(docker login)); the upstream
    Convex images on ghcr.io are public.
"""

EXAMPLES = r"""
- name: Check that both Convex images of the pinned sha exist for arm64.
  joelclaw.macmini.docker_image_available:
    images:
      - ghcr.io/get-convex/convex-backend:652b828b5129e6cdbcaa3c20efa8d116d09ff3bf
      - ghcr.io/get-convex/convex-dashboard:652b828b5129e6cdbcaa3c20efa8d116d09ff3bf
    colima_profile: default
"""

RETURN = r"""
images:
  description: One entry per image, in the order of O(images).
  returned: always
  type: list
  elements: dict
  contains:
    image:
      description: The reference as given.
      type: str
    available:
      description: Whether the image (and O(platform)) was found.
      type: bool
    platforms:
      description: The C(os/architecture) pairs of the manifest list (O(method=manifest)).
      type: list
      elements: str
    error:
      description: Why the image is not available, from the Docker CLI's stderr or the platform check.
      type: str
missing:
  description: The references that are not available.
  returned: always
  type: list
  elements: str
docker_host:
  description: The E(DOCKER_HOST) used.
  returned: always
  type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.joelclaw.macmini.plugins.module_utils import _colima

# Where Homebrew links the docker CLI: Apple silicon, then Intel.
HOMEBREW_BIN_DIRS = ['/opt/homebrew/bin', '/usr/local/bin']


def tag_of(image):
    """The tag of a reference ('' when none); a ':' before the last '/' is a registry port."""
    last = image.split('@', 1)[0].rsplit('/', 1)[-1]
    return last.split(':', 1)[1] if ':' in last else ''


def platforms_of(stdout):
    """os/arch pairs of `docker manifest inspect` output: a manifest list, or one image manifest (None)."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get('manifests'), list):
        return None
    result = []
    for entry in document['manifests']:
        platform = entry.get('platform') or {}
        if platform.get('os') and platform.get('architecture'):
            result.append('%s/%s' % (platform['os'], platform['architecture']))
    return result


def check(module, docker, env, image, method, platform):
    entry = {'image': image, 'available': False, 'platforms': [], 'error': ''}
    if method == 'pull':
        rc, _out, err = module.run_command([docker, 'pull', image], environ_update=env)
        if rc != 0:
            entry['error'] = err.strip()[-1000:] or 'docker pull exited %d' % rc
            return entry, False
        entry['available'] = True
        return entry, True
    rc, out, err = module.run_command([docker, 'manifest', 'inspect', image], environ_update=env)
    if rc != 0:
        entry['error'] = err.strip()[-1000:] or 'docker manifest inspect exited %d' % rc
        return entry, False
    platforms = platforms_of(out)
    if platforms is None:
        # A single-platform image manifest names no platform; it cannot be checked here.
        entry['available'] = not platform
        entry['error'] = '' if not platform else 'the tag is a single image manifest, not a list naming %s' % platform
        return entry, False
    entry['platforms'] = platforms
    if platform and platform not in platforms:
        entry['error'] = 'the manifest list offers %s, not %s' % (', '.join(platforms) or 'no platform', platform)
        return entry, False
    entry['available'] = True
    return entry, False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            images=dict(type='list', elements='str', required=True),
            method=dict(type='str', choices=['manifest', 'pull'], default='manifest'),
            platform=dict(type='str', default='linux/arm64'),
            docker_host=dict(type='str', default=''),
            colima_profile=dict(type='str', default='default'),
            docker_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    images = params['images']
    if not images:
        module.fail_json(msg='images is empty; give at least one image reference with a tag.')
    untagged = [image for image in images if not tag_of(image)]
    if untagged:
        module.fail_json(msg='images %s have no tag; expected references such as registry/name:tag.'
                         % ', '.join(repr(i) for i in untagged))
    if params['platform'] and params['platform'].count('/') != 1:
        module.fail_json(msg='platform is %r; expected os/architecture such as linux/arm64.' % params['platform'])
    docker_host = params['docker_host'] or _colima.docker_socket(params['colima_profile'], _colima.config_dir())
    # PATH first (get_bin_path would search opt_dirs before PATH), then Homebrew's prefixes.
    docker = (params['docker_path'] or module.get_bin_path('docker', required=False)
              or module.get_bin_path('docker', required=False, opt_dirs=HOMEBREW_BIN_DIRS))
    if not docker:
        module.fail_json(msg='The docker CLI was not found on PATH, in /opt/homebrew/bin or in /usr/local/bin; '
                         'install it (`brew install docker`, the colima_talos role does) or set docker_path.')
    method = params['method']
    if method == 'pull' and module.check_mode:
        method = 'manifest'
    env = {'DOCKER_HOST': docker_host}
    results, pulled = [], False
    for image in images:
        entry, changed = check(module, docker, env, image, method, params['platform'])
        results.append(entry)
        pulled = pulled or changed
    missing = [entry['image'] for entry in results if not entry['available']]
    if missing:
        details = '; '.join('%s (tag %s): %s' % (e['image'], tag_of(e['image']), e['error'])
                            for e in results if not e['available'])
        module.fail_json(msg='%d of %d images cannot be pulled (%s, DOCKER_HOST=%s): %s'
                         % (len(missing), len(images), 'docker ' + ('pull' if method == 'pull' else 'manifest inspect'),
                            docker_host, details),
                         images=results, missing=missing, docker_host=docker_host, changed=pulled)
    module.exit_json(changed=pulled, images=results, missing=[], docker_host=docker_host)


if __name__ == '__main__':
    main()
