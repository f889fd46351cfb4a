#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_export
short_description: Take a snapshot export of a self-hosted Convex deployment
version_added: 0.1.0
description:
  - Requests a snapshot export (C(POST /api/export/request/zip)), polls
    C(_system/cli/exports:getLatest) until it completes, downloads the ZIP
    (C(GET /api/export/zip/<start_ts>)) to a temporary file beside O(dest), checks it (ZIP CRCs,
    C(_tables/documents.jsonl) present, size) and renames it into place, mode 0600.
  - If another export is already running (C(ExportInProgress)), waits for it, then requests a new one.
  - The same flow as C(npx convex export), with a deadline and a verified file.
  - An export does not contain environment variables, code or pending scheduled functions.
author:
  - Joel Hooks (@joelhooks)
options:
  dest:
    description:
      - An existing directory (the file is named as the server names it,
        C(snapshot_<instance>_<ts>.zip)) or a file path.
    type: path
    required: true
  include_storage:
    description: Include file storage (C(_storage/)) in the export.
    type: bool
    default: false
  force:
    description: Replace O(dest) (or the file of the same name in it) if it exists.
    type: bool
    default: false
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
  - joelclaw.macmini.convex.export
attributes:
  check_mode:
    support: full
    details: Reads the latest export's state (proves the key works); requests nothing.
  diff_mode:
    support: none
seealso:
  - module: joelclaw.macmini.convex_import
"""

EXAMPLES = r"""
- name: Ensure tonight's snapshot of the deployment is in the backup directory.
  joelclaw.macmini.convex_export:
    url: http://127.0.0.1:3210
    admin_key: "{{ convex_key.admin_key }}"
    dest: "{{ convex_backup_dir }}"
    include_storage: true
  register: convex_snapshot
"""

RETURN = r"""
path:
  description: Where the verified ZIP was written.
  returned: changed and not check mode
  type: str
size:
  description: Size of the ZIP in bytes.
  returned: changed and not check mode
  type: int
sha256:
  description: SHA-256 of the ZIP.
  returned: changed and not check mode
  type: str
tables:
  description: Table names listed in C(_tables/documents.jsonl).
  returned: changed and not check mode
  type: list
  elements: str
start_ts:
  description: The export's snapshot timestamp (nanoseconds), also the download id.
  returned: changed and not check mode
  type: int
export_id:
  description: The C(_exports) document id.
  returned: changed and not check mode
  type: str
elapsed:
  description: Seconds from the request to the verified file.
  returned: changed and not check mode
  type: float
latest_state:
  description: In check mode, the state of the newest export on the server (or null).
  returned: check mode
  type: str
"""

import os
import time

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError, int64
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    EXPORT_ARGUMENT_SPEC, connect, connection_module)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline, download_export, request_export


def main():
    module = connection_module(
        shared=EXPORT_ARGUMENT_SPEC,
        dest=dict(type="path", required=True),
        include_storage=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    )
    params = module.params
    dest = params["dest"]
    parent = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        module.fail_json(msg="dest %s: directory %s does not exist; create it first (0700)." % (dest, parent))
    if not os.path.isdir(dest) and os.path.exists(dest) and not params["force"]:
        module.fail_json(msg="dest %s already exists; choose another path or set force=true." % dest)
    started = time.monotonic()
    try:
        client = connect(module, params["request_timeout"])
        if module.check_mode:
            latest = client.latest_export()
            module.exit_json(changed=True, latest_state=(latest or {}).get("state"))
        doc = request_export(client, params["include_storage"], Deadline(params["timeout"]))
        start_ts = int64(doc["start_ts"])
        result = download_export(client, start_ts, dest, force=params["force"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict())
    except OSError as exc:
        module.fail_json(msg="cannot write the export under dest %s: %s" % (dest, exc))
    module.exit_json(changed=True, start_ts=start_ts, export_id=doc.get("_id"),
                     elapsed=round(time.monotonic() - started, 3), **result)


if __name__ == "__main__":
    main()
