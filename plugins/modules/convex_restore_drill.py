#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: convex_restore_drill
short_description: Restore a backup set into a throwaway Convex backend and compare it with the set's manifest
version_added: 0.1.0
description:
  - Verifies the chosen backup set as M(joelclaw.macmini.convex_backup_restore) does, imports it with mode
    C(replaceAll) into the B(drill) backend at O(url), and sets the set's environment variables there.
  - Then reads the drill backend back - a fresh export of it, counted per table, and its variable names -
    and compares the table names, the document counts and the variable names with the set's manifest and
    C(.env.json) sidecar.
  - Writes the outcome (ok or not, RTO, date, problems; never a secret) to O(result_file), 0600, when given;
    M(joelclaw.macmini.convex_health) reads it with O(joelclaw.macmini.convex_health#module:restore_drill_file).
  - Refuses a backend whose live instance name is not O(instance_name), or an O(instance_name) equal to
    O(live_instance_name), before anything is sent - the drill never imports into the live backend.
author:
  - Joel Hooks (@joelhooks)
options:
  instance_name:
    description: The drill backend's instance name; its C(/instance_name) must answer this.
    type: str
    required: true
  live_instance_name:
    description: The live backend's instance name; an O(instance_name) equal to it is refused.
    type: str
  backup_dir:
    description: Directory of backup sets.
    type: path
    required: true
  backup:
    description: The set to drill - V(latest) (the newest good set), a ZIP name in O(backup_dir), or its path.
    type: str
    default: latest
  result_file:
    description: JSON file (0600) the outcome is written to, on success and on failure (not in check mode).
    type: path
  started:
    description: Unix time the drill began (for example before the drill backend was created); the RTO is
      measured from it. Defaults to the module's own start.
    type: float
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
  - joelclaw.macmini.convex.import
attributes:
  check_mode:
    support: full
    details: Verifies the set, the drill backend's instance name and admin key; imports and writes nothing.
  diff_mode:
    support: none
notes:
  - Variable names are returned, never their values.
seealso:
  - module: joelclaw.macmini.convex_backup_restore
  - module: joelclaw.macmini.convex_health
"""

EXAMPLES = r"""
- name: Ensure the newest backup restores into the drill backend as its manifest says.
  joelclaw.macmini.convex_restore_drill:
    url: http://127.0.0.1:30212
    admin_key: "{{ drill_admin_key.admin_key }}"
    instance_name: joelclaw-drill
    live_instance_name: joelclaw
    backup_dir: "{{ convex_backup_dir }}"
    result_file: "{{ convex_state_dir }}/restore-drill.json"
  no_log: true
"""

RETURN = r"""
ok:
  description: Whether the drill backend held what the set's manifest and sidecar promise.
  returned: success or a failed comparison
  type: bool
backup:
  description: The ZIP that was drilled.
  returned: when a set was found
  type: str
rto_seconds:
  description: Seconds from O(started) to the verified comparison.
  returned: not check mode
  type: float
tables:
  description: Documents per table read back from the drill backend.
  returned: not check mode
  type: dict
problems:
  description: What differs (table names, counts, variable names), or why the drill failed.
  returned: always
  type: list
  elements: str
record:
  description: What was written to O(result_file).
  returned: not check mode
  type: dict
"""

import time

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_drill as drill_lib
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    IMPORT_ARGUMENT_SPEC, check_chunk_size, connect, connection_module)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline


def main():
    module = connection_module(
        shared=IMPORT_ARGUMENT_SPEC,
        instance_name=dict(type="str", required=True),
        live_instance_name=dict(type="str"),
        backup_dir=dict(type="path", required=True),
        backup=dict(type="str", default="latest"),
        result_file=dict(type="path"),
        started=dict(type="float"),
    )
    params = module.params
    started = params["started"] if params["started"] is not None else time.time()
    if params["instance_name"] == params["live_instance_name"]:
        module.fail_json(msg="instance_name=%s is the live backend's: the drill never restores into the live "
                             "backend; give the drill backend's own name." % params["instance_name"])
    check_chunk_size(module)
    try:
        entry = backup.resolve(params["backup_dir"], params["backup"])
        client = connect(module, params["request_timeout"])
        live_name = client.instance_name_live(timeout=params["request_timeout"])
        if live_name != params["instance_name"]:
            module.fail_json(msg="the backend at %s is instance %r, not the drill's %r: nothing was imported."
                             % (params["url"], live_name, params["instance_name"]), problems=[])
        client.check_key(timeout=params["request_timeout"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict(), problems=[])
    name = entry["zip"] if entry.get("zip") else entry["base"]
    if module.check_mode:
        try:
            backup.verify_set(entry)
        except ConvexError as exc:
            module.fail_json(msg=exc.message, error=exc.to_dict(), backup=name, problems=[exc.message])
        except OSError as exc:
            module.fail_json(msg="cannot read the backup in backup_dir %s: %s" % (params["backup_dir"], exc), problems=[])
        module.exit_json(changed=True, backup=name, problems=[])
    outcome, failure = None, None
    try:
        outcome = drill_lib.drill(client, entry, Deadline(params["timeout"]), params["chunk_size"], None,
                                  request_timeout=params["request_timeout"])
    except ConvexError as exc:
        failure = exc.message
    except OSError as exc:
        failure = "cannot read the backup in backup_dir %s: %s" % (params["backup_dir"], exc)
    finished = time.time()
    problems = [failure] if failure else outcome["problems"]
    ok = failure is None and outcome["ok"]
    record = drill_lib.result_record(ok, name, started, finished, problems,
                                     documents=outcome["documents"] if outcome else None)
    if params["result_file"]:
        try:
            drill_lib.write_result(params["result_file"], record)
        except OSError as exc:
            module.fail_json(msg="cannot write result_file %s: %s" % (params["result_file"], exc), record=record,
                             problems=problems)
    result = dict(changed=True, ok=ok, backup=name, rto_seconds=record["rto_seconds"], problems=problems,
                  record=record, tables=outcome["tables"] if outcome else {})
    if not ok:
        module.fail_json(msg="restore drill of %s FAILED: %s" % (name, "; ".join(problems)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
