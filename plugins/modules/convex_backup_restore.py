#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: convex_backup_restore
short_description: Restore a backup set into a self-hosted Convex deployment (replaceAll import and environment variables)
version_added: 0.1.0
description:
  - Verifies the chosen backup set written by M(joelclaw.macmini.convex_backup) (or the scheduled job)
    before anything is sent - manifest present, size and sha256 as recorded, ZIP CRCs, table counts,
    C(.env.json) matching the manifest - and refuses a set that fails any check.
  - Then imports the ZIP with mode C(replaceAll) (replaces all data and deletes tables that are not
    in the backup), and makes the deployment's environment variables equal to the backup's.
author:
  - Joel Hooks (@joelhooks)
options:
  backup_dir:
    description: Directory of backup sets.
    type: path
    required: true
  backup:
    description: The set to restore - V(latest) (the newest good set), a ZIP name in O(backup_dir), or its path.
    type: str
    required: true
  restore_env:
    description: Make the environment variables equal to the backup's (sets and removes variables).
    type: bool
    default: true
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
  - joelclaw.macmini.convex.import
attributes:
  check_mode:
    support: full
    details: Verifies the set and the admin key and lists the variables that would change; imports nothing.
  diff_mode:
    support: none
notes:
  - Variable names are returned, never their values.
seealso:
  - module: joelclaw.macmini.convex_backup
  - module: joelclaw.macmini.convex_import
"""

EXAMPLES = r"""
- name: Ensure the deployment holds exactly what the newest backup holds.
  joelclaw.macmini.convex_backup_restore:
    url: http://127.0.0.1:3210
    admin_key_env_file: "{{ convex_admin_key_env_file }}"
    backup_dir: "{{ convex_backup_dir }}"
    backup: latest
"""

RETURN = r"""
backup:
  description: The ZIP that was (or in check mode would be) restored.
  returned: always
  type: str
manifest:
  description: The set's manifest.
  returned: always
  type: dict
rows_written:
  description: Documents the backend reports as written.
  returned: changed and not check mode
  type: int
documents_expected:
  description: Documents the manifest counts in the backup's tables.
  returned: changed and not check mode
  type: int
env_changed:
  description: Names of the environment variables that were (or would be) set or removed.
  returned: always
  type: list
  elements: str
import_id:
  description: The backend's import id.
  returned: changed and not check mode
  type: str
"""

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    IMPORT_ARGUMENT_SPEC, check_chunk_size, connect, connection_module, module_admin_key)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline


def main():
    module = connection_module(
        shared=IMPORT_ARGUMENT_SPEC,
        backup_dir=dict(type="path", required=True),
        backup=dict(type="str", required=True),
        restore_env=dict(type="bool", default=True),
    )
    params = module.params
    check_chunk_size(module)
    key = module_admin_key(module)
    try:
        entry = backup.resolve(params["backup_dir"], params["backup"])
        manifest, variables = backup.verify_set(entry)
        for value in variables.values():
            if isinstance(value, str) and len(value) > 3:
                module.no_log_values.add(value)
        check_chunk_size(module, manifest["size"], "backup %s" % entry["zip"])
        client = connect(module, params["request_timeout"], admin_key=key)
        if module.check_mode:
            client.check_key()
            changes = backup.env_changes(client.list_env(), variables) if params["restore_env"] else []
            module.exit_json(changed=True, backup=entry["zip"], manifest=manifest,
                             env_changed=[c["name"] for c in changes])
        result = backup.restore_set(client, entry, Deadline(params["timeout"]), params["chunk_size"],
                                    restore_env=params["restore_env"], request_timeout=params["request_timeout"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict())
    except OSError as exc:
        module.fail_json(msg="cannot read the backup in backup_dir %s: %s" % (params["backup_dir"], exc))
    if result["documents_expected"] is not None and result.get("rows_written") != result["documents_expected"]:
        module.warn("the backend reports %s documents written; the backup's tables hold %s."
                    % (result.get("rows_written"), result["documents_expected"]))
    result["backup"] = entry["zip"]
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
