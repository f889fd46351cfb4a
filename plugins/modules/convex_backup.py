#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: convex_backup
short_description: Take a verified backup set of a self-hosted Convex deployment and apply retention
version_added: 0.1.0
description:
  - Takes a snapshot export the way M(joelclaw.macmini.convex_export) does (same code), and
    writes it as a backup set in O(backup_dir)
    C(snapshot_<instance>_<ts>.zip), C(.env.json) (the deployment's environment variables, which
    an export omits) and C(.manifest.json) (time, size, sha256, table counts, backend image).
  - The ZIP is verified under C(<backup_dir>/.staging) and renamed into O(backup_dir) only after
    both sidecars are written, so a ZIP in O(backup_dir) always has its manifest. A failed run
    removes only what it wrote; an existing set is never overwritten.
  - Then deletes the good sets that O(keep_daily) / O(keep_weekly) no longer keep. The newest good
    set is always kept; incomplete sets and partial files are never deleted.
  - The scheduled job the joelclaw.macmini.convex_backup role installs runs the same code.
author:
  - Joel Hooks (@joelhooks)
options:
  backup_dir:
    description: Directory of backup sets; created 0700 if missing.
    type: path
    required: true
  include_storage:
    description: Include file storage (C(_storage/)) in the export.
    type: bool
    default: false
  keep_daily:
    description: Keep the newest set of each of this many most recent UTC days that have one.
    type: int
    default: 7
  keep_weekly:
    description: Keep the newest set of each of this many most recent ISO weeks that have one.
    type: int
    default: 4
  prune:
    description: Apply retention after a good backup. V(false) only takes the backup.
    type: bool
    default: true
  backend_image:
    description: The backend image reference, recorded in the manifest.
    type: str
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
  - joelclaw.macmini.convex.export
attributes:
  check_mode:
    support: full
    details: Reads the latest export's state (proves the key works) and returns the retention plan; writes and deletes nothing.
  diff_mode:
    support: none
notes:
  - The C(.env.json) sidecar holds variable values in clear text, mode 0600 in a 0700 directory.
seealso:
  - module: joelclaw.macmini.convex_export
  - module: joelclaw.macmini.convex_backup_restore
"""

EXAMPLES = r"""
- name: Ensure a fresh verified backup set of the deployment exists, and prune old ones.
  joelclaw.macmini.convex_backup:
    url: http://127.0.0.1:3210
    admin_key_env_file: "{{ convex_admin_key_env_file }}"
    backup_dir: "{{ convex_backup_dir }}"
    backend_image: "{{ convex_backend_image }}"
    keep_daily: 7
    keep_weekly: 4
  register: convex_backup_result
"""

RETURN = r"""
manifest:
  description: The new set's manifest (no variable values).
  returned: changed and not check mode
  type: dict
  sample:
    file: snapshot_joelclaw_1764000000000000000.zip
    created: "2025-11-24T16:00:00Z"
    size: 52342123
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    tables: {messages: 1200, users: 3}
    documents: 1203
    env_count: 4
    backend_image: ghcr.io/get-convex/convex-backend:652b828b5129e6cdbcaa3c20efa8d116d09ff3bf
path:
  description: The new ZIP.
  returned: changed and not check mode
  type: str
retention:
  description: Sets kept (with the rule that kept each), deleted, and left alone (incomplete, partial).
  returned: always
  type: dict
latest_state:
  description: In check mode, the state of the newest export on the server (or null).
  returned: check mode
  type: str
"""

import os

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    EXPORT_ARGUMENT_SPEC, connect, connection_module, module_admin_key)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline


def main():
    module = connection_module(
        shared=EXPORT_ARGUMENT_SPEC,
        backup_dir=dict(type="path", required=True),
        include_storage=dict(type="bool", default=False),
        keep_daily=dict(type="int", default=7),
        keep_weekly=dict(type="int", default=4),
        prune=dict(type="bool", default=True),
        backend_image=dict(type="str"),
    )
    params = module.params
    for name in ("keep_daily", "keep_weekly"):
        if params[name] < 0:
            module.fail_json(msg="%s=%d is negative; give 0 or more (the newest backup is kept anyway)."
                             % (name, params[name]))
    backup_dir = params["backup_dir"]
    if os.path.exists(backup_dir) and not os.path.isdir(backup_dir):
        module.fail_json(msg="backup_dir %s exists and is not a directory; point backup_dir at a directory." % backup_dir)
    key = module_admin_key(module)
    try:
        client = connect(module, params["request_timeout"], admin_key=key)
        if module.check_mode:
            latest = client.latest_export()
            plan = backup.apply_retention(backup_dir, params["keep_daily"], params["keep_weekly"], dry_run=True)
            module.exit_json(changed=True, latest_state=(latest or {}).get("state"), retention=plan)
        manifest = backup.take_backup(client, backup_dir, params["include_storage"], Deadline(params["timeout"]),
                                      request_timeout=params["request_timeout"], backend_image=params["backend_image"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict())
    except OSError as exc:
        module.fail_json(msg="cannot write the backup under backup_dir %s: %s" % (backup_dir, exc))
    path = manifest.pop("path")
    for extra in ("manifest_path", "env_path"):
        manifest.pop(extra)
    retention = {"kept": [], "deleted": [], "incomplete": [], "partial": []}
    if params["prune"]:
        try:
            retention = backup.apply_retention(backup_dir, params["keep_daily"], params["keep_weekly"])
        except OSError as exc:
            module.fail_json(msg="the backup %s was written, but retention in %s failed: %s" % (path, backup_dir, exc),
                             path=path, manifest=manifest)
    module.exit_json(changed=True, path=path, manifest=manifest, retention=retention)


if __name__ == "__main__":
    main()
