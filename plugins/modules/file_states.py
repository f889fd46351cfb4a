#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: file_states
short_description: Read the type, mode, owner and SHA-1 of many paths in one call
version_added: 0.1.0
description:
  - Reports, for every path in O(paths), whether it exists, its type, permission bits, owner, group and,
    for a regular file, the SHA-1 of its content (the checksum M(ansible.builtin.copy) and
    M(ansible.builtin.template) compare).
  - A role reads all of its managed files with one call and then runs M(ansible.builtin.copy),
    M(ansible.builtin.template) or M(ansible.builtin.file) only for the paths whose wanted content or
    mode differs from what is there, instead of one round trip per file when nothing changed.
  - Read-only. A symbolic link is reported as a link (it is not followed), so a caller that compares
    with a file's wanted state treats it as different.
author:
  - Joel Hooks (@joelhooks)
options:
  paths:
    description:
      - Absolute paths to read. A missing path is reported with RV(states[].exists=false), not as an error.
    type: list
    elements: path
    required: true
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the rendered manifests' checksums and modes in one call.
  joelclaw.macmini.file_states:
    paths:
      - /srv/manifests/service.yml
      - /srv/manifests/deployment.yml
  register: manifests

- name: Render only the manifests whose content or mode differs.
  ansible.builtin.template:
    src: "{{ item }}.yml.j2"
    dest: "/srv/manifests/{{ item }}.yml"
    mode: "0644"
  loop: [service, deployment]
  when: >-
    manifests.states['/srv/manifests/' ~ item ~ '.yml'].checksum | default('')
    != lookup('ansible.builtin.template', item ~ '.yml.j2') | hash('sha1')
    or manifests.states['/srv/manifests/' ~ item ~ '.yml'].mode | default('') != '0644'
"""

RETURN = r"""
states:
  description: One entry per path of O(paths), keyed by the path as given.
  returned: success
  type: dict
  contains:
    exists:
      description: Whether something is at the path (a dangling symbolic link counts).
      type: bool
    type:
      description: C(file), C(directory), C(link), C(other) or C(absent).
      type: str
    mode:
      description: Permission bits in octal, four digits (C(0644)); absent when nothing is there.
      type: str
    owner:
      description: Owner's user name (the numeric id when it has no name); absent when nothing is there.
      type: str
    group:
      description: Group name (the numeric id when it has no name); absent when nothing is there.
      type: str
    checksum:
      description: SHA-1 of the content, regular files this user can read only.
      type: str
  sample:
    /srv/manifests/service.yml:
      exists: true
      type: file
      mode: "0644"
      owner: convex
      group: staff
      checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    /srv/manifests/deployment.yml:
      exists: false
      type: absent
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def state_of(module, path):
    """The state of one path, never following a final symbolic link."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "type": "absent"}
    if stat.S_ISLNK(info.st_mode):
        kind = "link"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    else:
        kind = "other"
    result = {
        "exists": True,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
    }
    if kind == "file":
        try:
            result["checksum"] = module.digest_from_file(path, "sha1")
        except PermissionError:
            # Not readable by this user: no checksum, so a caller that compares content sees a difference
            # and runs its copy or template task, which reports the problem itself.
            pass
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(paths=dict(type="list", elements="path", required=True)),
        supports_check_mode=True,
    )
    relative = [path for path in module.params["paths"] if not os.path.isabs(path)]
    if relative:
        module.fail_json(msg="paths must be absolute; not absolute: %s" % ", ".join(relative))
    try:
        states = dict((path, state_of(module, path)) for path in module.params["paths"])
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (exc.filename, exc.strerror))
    module.exit_json(changed=False, states=states)


if __name__ == "__main__":
    main()
