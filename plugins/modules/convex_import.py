#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_import
short_description: Restore a snapshot ZIP into a self-hosted Convex deployment
version_added: 0.1.0
description:
  - Checks the local ZIP (CRCs, C(_tables/documents.jsonl)), uploads it in parts
    (C(/api/import/start_upload), C(upload_part), C(finish_upload)), confirms the import
    (C(POST /api/perform_import)) when the backend asks for confirmation, and polls
    C(_system/cli/queryImport) until it completes, like C(npx convex import -y).
  - O(mode) has no default, so every run states explicitly whether it may overwrite data.
author:
  - Joel Hooks (@joelhooks)
options:
  src:
    description: The snapshot ZIP on the managed host (as written by M(joelclaw.macmini.convex_export)).
    type: path
    required: true
  mode:
    description:
      - V(requireEmpty) fails if a table in the ZIP already has rows.
      - V(append) adds the rows.
      - V(replace) replaces the tables that are in the ZIP.
      - V(replaceAll) replaces all data and deletes tables that are not in the ZIP (a full restore).
    type: str
    required: true
    choices: [requireEmpty, append, replace, replaceAll]
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
  - joelclaw.macmini.convex.import
attributes:
  check_mode:
    support: full
    details: Checks the ZIP and the admin key; uploads nothing.
  diff_mode:
    support: none
notes:
  - Environment variables are not in a snapshot; restore them with M(joelclaw.macmini.convex_env).
seealso:
  - module: joelclaw.macmini.convex_export
"""

EXAMPLES = r"""
- name: Restore the deployment from the chosen snapshot (replaces all data).
  joelclaw.macmini.convex_import:
    url: http://127.0.0.1:3210
    admin_key: "{{ convex_key.admin_key }}"
    src: "{{ convex_backup_dir }}/snapshot_joelclaw_1767225600000000000.zip"
    mode: replaceAll
"""

RETURN = r"""
rows_written:
  description: Documents written by the import (C(num_rows_written)).
  returned: changed and not check mode
  type: int
rows_in_file:
  description: Documents counted in the ZIP's table files.
  returned: success
  type: int
tables:
  description: Tables listed in the ZIP.
  returned: success
  type: list
  elements: str
import_id:
  description: The C(_snapshot_imports) document id.
  returned: changed and not check mode
  type: str
message_to_confirm:
  description: The backend's summary of what the import changes, which this module confirmed.
  returned: changed and not check mode
  type: str
parts:
  description: Number of uploaded parts.
  returned: changed and not check mode
  type: int
"""

import os

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    IMPORT_ARGUMENT_SPEC, check_chunk_size, connect, connection_module)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline, run_import, zip_summary


def main():
    module = connection_module(
        shared=IMPORT_ARGUMENT_SPEC,
        src=dict(type="path", required=True),
        mode=dict(type="str", required=True, choices=["requireEmpty", "append", "replace", "replaceAll"]),
    )
    params = module.params
    src = params["src"]
    if not os.path.isfile(src):
        module.fail_json(msg="src %s is not a file." % src)
    check_chunk_size(module, os.path.getsize(src), "src %s" % src)
    try:
        tables, rows = zip_summary(src)
        client = connect(module, params["request_timeout"])
        if module.check_mode:
            client.check_key()
            module.exit_json(changed=True, tables=tables, rows_in_file=rows)
        result = run_import(client, src, params["mode"], Deadline(params["timeout"]), params["chunk_size"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict())
    changed = result["rows_written"] > 0 or params["mode"] in ("replace", "replaceAll")
    module.exit_json(changed=changed, tables=tables, rows_in_file=rows, **result)


if __name__ == "__main__":
    main()
