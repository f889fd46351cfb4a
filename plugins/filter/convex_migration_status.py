# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the Convex backend's startup log and say whether its database migrations have finished."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# In get-convex/convex-backend, each step logs "Executing Migration <n>/<latest>. Wait for log line
# '<line>'" (WARN, crates/migrations_model/src/lib.rs) and the worker, when it has nothing left to do,
# "Migration complete" (INFO, crates/model/src/migrations.rs). Upstream's upgrade guide says to wait
# for each named line. convex_rust_log_problems refuses a RUST_LOG that would hide these lines.
_EXECUTING = re.compile(r"Executing Migration (\d+)/(\d+)\. Wait for log line '([^']+)'")
_DONE = "Migration complete"


def convex_migration_status(log_text):
    """Return {complete, worker_done, executed, awaiting} for one container's log text."""
    if not isinstance(log_text, str):
        raise AnsibleFilterError("convex_migration_status expects the log as one string, got %s" % type(log_text).__name__)
    executed = []
    awaiting = []
    for match in _EXECUTING.finditer(log_text):
        executed.append(int(match.group(1)))
        wanted = match.group(3)
        if wanted not in log_text[match.end():]:
            awaiting.append(wanted)
    worker_done = _DONE in log_text
    return {
        "complete": worker_done and not awaiting,
        "worker_done": worker_done,
        "executed": executed,
        "awaiting": awaiting,
    }


class FilterModule(object):
    def filters(self):
        return {"convex_migration_status": convex_migration_status}
