#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: caddy_config
short_description: Keep the collection's Caddy sites in files it owns, imported from the owner's main Caddyfile
version_added: 0.1.0
description:
  - Writes the collection's global options (O(global_content)) and sites (O(sites_content)) to two files it owns, and
    makes sure the owner's main Caddyfile (O(caddyfile)) imports them, each with one C(import) line added once -
    the global options file as the first line inside the main file's global options block (a block holding only
    that line is added at the top when the file has none), the sites file at the end. Nothing else in the main file
    is changed.
  - When there is no main Caddyfile, or it is empty, it is created holding only the two import lines.
  - Before anything is replaced, the whole new config - the owner's main file with the new owned files - is checked
    with C(caddy validate) from copies staged next to the real files (so the owner's relative imports resolve), and
    read with C(caddy adapt) to report the admin endpoint it ends up with. A config Caddy refuses changes nothing.
  - O(exclusive_global_options) are added to the global options file only while the main Caddyfile holds nothing
    of the owner's, because they change every site Caddy serves (for example C(auto_https disable_redirects)).
author:
  - Joel Hooks (@joelhooks)
options:
  caddyfile:
    description: The main Caddyfile Caddy runs with (the owner's).
    type: path
    required: true
  global_file:
    description: The collection's global options file (option lines, no braces). No whitespace, quotes or C(#).
    type: path
    required: true
  global_content:
    description: The content of O(global_file). Required with O(state=present).
    type: str
  exclusive_global_options:
    description: Global option lines added to O(global_file) only while the main Caddyfile holds nothing else.
    type: list
    elements: str
    default: []
  sites_file:
    description: The collection's sites file (site blocks). No whitespace, quotes or C(#).
    type: path
    required: true
  sites_content:
    description: The content of O(sites_file). It may hold bcrypt hashes, so it is never logged. Required with
      O(state=present).
    type: str
  sites_diff:
    description: Include O(sites_file) in the diff (off when it holds basic-auth hashes).
    type: bool
    default: true
  owner:
    description: Owner of the owned files, and of the main Caddyfile when this module creates it.
    type: str
  group:
    description: Group of the owned files, and of the main Caddyfile when this module creates it.
    type: str
  mode:
    description: Mode of the owned files, and of the main Caddyfile when this module creates it. An existing main
      Caddyfile keeps its owner, group and mode.
    type: raw
    default: "0600"
  caddy_bin:
    description: The caddy binary used for C(caddy validate) and C(caddy adapt).
    type: path
    required: true
  state:
    description:
      - V(present) writes the owned files and adds the import lines.
      - V(absent) removes the two import lines from the main Caddyfile (validating what is left with Caddy
        first) and then the owned files. A main Caddyfile that holds nothing but the import lines (the one this
        module created) is removed too; RV(owner_content) says which case it was.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: Stages and validates the new config, reports C(changed) and the diff, and replaces nothing.
  diff_mode:
    support: full
    details: The main Caddyfile and the global options file (and the sites file with O(sites_diff)).
notes:
  - Global options follow Caddy's rule that a later option of the same name wins (caddyserver/caddy v2.11.4
    caddyconfig/httpcaddyfile/httptype.go evaluateGlobalOptionsBlock), so the owner's own options after the import line
    take precedence over the collection's.
"""

EXAMPLES = r"""
- name: Remove the collection's files and import lines, keeping the owner's sites.
  joelclaw.macmini.caddy_config:
    caddyfile: /opt/homebrew/etc/Caddyfile
    global_file: /opt/homebrew/etc/joelclaw-macmini.global.caddyfile
    sites_file: /opt/homebrew/etc/joelclaw-macmini.caddyfile
    caddy_bin: /opt/homebrew/bin/caddy
    state: absent

- name: Keep the Convex sites in their own file, imported from the owner's Caddyfile.
  joelclaw.macmini.caddy_config:
    caddyfile: /opt/homebrew/etc/Caddyfile
    global_file: /opt/homebrew/etc/joelclaw-macmini.global.caddyfile
    global_content: "admin unix//opt/homebrew/var/lib/caddy-tailscale/admin.sock\n"
    exclusive_global_options: [auto_https disable_redirects]
    sites_file: /opt/homebrew/etc/joelclaw-macmini.caddyfile
    sites_content: "{{ lookup('ansible.builtin.template', 'sites.caddyfile.j2') }}"
    caddy_bin: /opt/homebrew/bin/caddy
"""

RETURN = r"""
changed_files:
  description: The files that were (or in check mode would be) written.
  returned: success
  type: list
  elements: str
  sample: [/opt/homebrew/etc/joelclaw-macmini.caddyfile]
created_main:
  description: Whether the main Caddyfile did not exist (or was empty) and is created holding only the imports.
  returned: success
  type: bool
owner_content:
  description: Whether the main Caddyfile holds sites or options of the owner's.
  returned: success
  type: bool
removed_main:
  description: With O(state=absent), whether the main Caddyfile was removed (it held nothing but the import lines).
  returned: success
  type: bool
admin_listen:
  description: The admin endpoint of the new config (C(localhost:2019) when no config sets one), or C(off).
  returned: success
  type: str
  sample: unix//opt/homebrew/var/lib/caddy-tailscale/admin.sock
admin_listen_before:
  description: The admin endpoint of the main Caddyfile as it was (what a running Caddy listens on); empty when there was none.
  returned: success
  type: str
"""

import json
import os
import re
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_config import (
    ConfigError,
    ensure_imports,
    has_owner_content,
    point_imports,
    remove_imports,
)

# caddyserver/caddy v2.11.4 admin.go DefaultAdminListen.
DEFAULT_ADMIN = "localhost:2019"
_SAFE_PATH = re.compile(r'^/[^\s"#{}]+\Z')


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def caddy(module, argv, cwd):
    proc = subprocess.run([module.params["caddy_bin"]] + argv, capture_output=True, text=True, cwd=cwd,
                          check=False, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def admin_of(module, main_path, cwd):
    """The admin endpoint a Caddyfile gives, from the real `caddy adapt`; None when it does not adapt."""
    rc, out, _err = caddy(module, ["adapt", "--adapter", "caddyfile", "--config", main_path], cwd)
    if rc != 0:
        return None
    admin = (json.loads(out or "{}").get("admin") or {})
    return "off" if admin.get("disabled") else admin.get("listen") or DEFAULT_ADMIN


def stage(directory, name, content, cleanup):
    handle, path = tempfile.mkstemp(prefix=".%s." % name, suffix=".joelclaw-staged", dir=directory)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(content)
    cleanup.append(path)
    return path


def absent(module, old_main):
    """Remove the import lines (validating what is left first), then the owned files; never the owner's lines."""
    params = module.params
    main_path, global_path, sites_path = params["caddyfile"], params["global_file"], params["sites_file"]
    owner_content = old_main is not None and has_owner_content(old_main, global_path, sites_path)
    new_main = remove_imports(old_main, global_path, sites_path) if owner_content else None
    owned = [path for path in (global_path, sites_path) if os.path.exists(path)]
    removed_main = old_main is not None and not owner_content
    result = dict(changed=bool(owned) or removed_main or (owner_content and new_main != old_main),
                  changed_files=owned + ([main_path] if removed_main or (owner_content and new_main != old_main)
                                         else []),
                  created_main=False, owner_content=owner_content, removed_main=removed_main,
                  admin_listen="", admin_listen_before="")
    if module._diff:
        result["diff"] = [dict(before_header=path, after_header=path, before=read(path) or "", after="")
                          for path in [global_path] + ([main_path] if removed_main else [])
                          if path in result["changed_files"]]
        if owner_content and new_main != old_main:
            result["diff"].append(dict(before_header=main_path, after_header=main_path, before=old_main,
                                       after=new_main))
    main_dir = os.path.dirname(main_path)
    cleanup = []
    try:
        if owner_content and new_main != old_main:
            if not os.access(params["caddy_bin"], os.X_OK):
                module.fail_json(msg="cannot validate the owner's remaining Caddy config: the caddy binary %s is "
                                     "missing, so nothing was removed" % params["caddy_bin"])
            staged_main = stage(main_dir, os.path.basename(main_path), new_main, cleanup)
            rc, out, err = caddy(module, ["validate", "--adapter", "caddyfile", "--config", staged_main], main_dir)
            if rc != 0:
                module.fail_json(msg="Caddy failed to validate %s without the collection's import lines, so nothing "
                                     "was removed: %s" % (main_path, (err or out).strip().replace(
                                         staged_main, main_path)[-3000:]), **result)
            result["admin_listen"] = admin_of(module, staged_main, main_dir) or ""
            result["admin_listen_before"] = admin_of(module, main_path, main_dir) or ""
        if module.check_mode or not result["changed"]:
            module.exit_json(**result)
        # The main file first: its import lines must never name a file that is already gone.
        if owner_content and new_main != old_main:
            module.atomic_move(stage(main_dir, os.path.basename(main_path), new_main, cleanup), main_path)
        for path in owned + ([main_path] if removed_main else []):
            os.unlink(path)
    finally:
        for path in cleanup:
            if os.path.exists(path):
                os.unlink(path)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            caddyfile=dict(type="path", required=True),
            global_file=dict(type="path", required=True),
            global_content=dict(type="str"),
            exclusive_global_options=dict(type="list", elements="str", default=[]),
            sites_file=dict(type="path", required=True),
            sites_content=dict(type="str", no_log=True),
            sites_diff=dict(type="bool", default=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw", default="0600"),
            caddy_bin=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ("global_content", "sites_content"))],
        supports_check_mode=True,
    )
    params = module.params
    main_path, global_path, sites_path = params["caddyfile"], params["global_file"], params["sites_file"]
    for name in ("global_file", "sites_file"):
        if not _SAFE_PATH.match(params[name]):
            module.fail_json(msg="%s=%r must be an absolute path without whitespace, quotes, # or braces: it is "
                                 "written into an import line of the main Caddyfile" % (name, params[name]))
    if len(set([main_path, global_path, sites_path])) != 3:
        module.fail_json(msg="caddyfile, global_file and sites_file must be three different files")

    old_main = read(main_path)
    if params["state"] == "absent":
        absent(module, old_main)
    try:
        new_main = ensure_imports(old_main, global_path, sites_path)
    except ConfigError as exc:
        module.fail_json(msg="Cannot add the collection's import lines to %s: %s" % (main_path, exc))
    created = old_main is None or not old_main.strip()
    owner_content = has_owner_content(new_main, global_path, sites_path)
    global_content = params["global_content"]
    if not owner_content and params["exclusive_global_options"]:
        global_content = global_content.rstrip("\n") + "\n" + "".join(
            line.strip() + "\n" for line in params["exclusive_global_options"])
    wanted = [(global_path, global_content), (sites_path, params["sites_content"]), (main_path, new_main)]
    current = dict((path, read(path)) for path, _content in wanted)
    changed_files = [path for path, content in wanted if current[path] != content]

    result = dict(changed=bool(changed_files), changed_files=changed_files, created_main=created,
                  owner_content=owner_content, admin_listen="", admin_listen_before="")
    if module._diff:
        result["diff"] = [dict(before_header=path, after_header=path, before=current[path] or "", after=content)
                          for path, content in wanted
                          if path in changed_files and (path != sites_path or params["sites_diff"])]

    main_dir = os.path.dirname(main_path)
    if not os.path.isdir(main_dir) or not os.access(params["caddy_bin"], os.X_OK):
        if module.check_mode:
            # A fresh host in check mode: Caddy or its config directory comes later in the play.
            module.exit_json(**result)
        module.fail_json(msg="cannot validate the Caddy config: %s is missing" % (
            main_dir if not os.path.isdir(main_dir) else "the caddy binary " + params["caddy_bin"]))

    cleanup = []
    try:
        staged = {
            global_path: stage(os.path.dirname(global_path), os.path.basename(global_path), global_content, cleanup),
            sites_path: stage(os.path.dirname(sites_path), os.path.basename(sites_path), params["sites_content"],
                              cleanup),
        }
        staged_main = stage(main_dir, os.path.basename(main_path), point_imports(new_main, staged), cleanup)
        rc, out, err = caddy(module, ["validate", "--adapter", "caddyfile", "--config", staged_main], main_dir)
        if rc != 0:
            text = (err or out).strip().replace(staged_main, main_path)
            for real, copy in staged.items():
                text = text.replace(copy, real)
            module.fail_json(msg="Caddy failed to validate the new config (your %s with the collection's files), so nothing "
                                 "was changed: %s" % (main_path, text[-3000:]), **result)
        result["admin_listen"] = admin_of(module, staged_main, main_dir) or ""
        if old_main is not None and old_main.strip():
            result["admin_listen_before"] = admin_of(module, main_path, main_dir) or ""
        if module.check_mode or not changed_files:
            module.exit_json(**result)
        # The owned files first: the main file's import lines must never name a file that is not there yet.
        for path, content in wanted:
            if path not in changed_files:
                continue
            if not os.path.exists(path):
                # Created private before the content arrives (atomic_move would give a new file 0644 first).
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            module.atomic_move(stage(os.path.dirname(path), os.path.basename(path), content, cleanup), path)
            if path != main_path or created:
                module.set_owner_if_different(path, params["owner"], False)
                module.set_group_if_different(path, params["group"], False)
                module.set_mode_if_different(path, params["mode"], False)
    finally:
        for path in cleanup:
            if os.path.exists(path):
                os.unlink(path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
