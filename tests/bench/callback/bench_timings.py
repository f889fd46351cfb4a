# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregate callback of tests/bench/bench_noop_converge.py: per-task wall time, as JSON.

Enabled only by the benchmark (ANSIBLE_CALLBACK_PLUGINS=tests/bench/callback,
ANSIBLE_CALLBACKS_ENABLED=bench_timings); it writes BENCH_TIMINGS_FILE when the playbook ends.
A task's time runs from its start (v2_playbook_on_task_start) to its last host result; one host.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timings
type: aggregate
short_description: Write per-task wall times and the run's totals to a JSON file (benchmark only)
description:
  - Used by tests/bench/bench_noop_converge.py; not shipped for playbook use.
options:
  path:
    description: Where the JSON goes.
    env:
      - name: BENCH_TIMINGS_FILE
    required: true
"""

import json
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()
        self._tasks = []
        self._current = None

    def _close(self):
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - self._current.pop("_t0"), 3)
            self._tasks.append(self._current)
            self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        role = task._role.get_name() if task._role else ""
        self._current = {"name": task.get_name(), "role": role, "action": task.action, "status": "skipped",
                         "_t0": time.monotonic()}

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _status(self, status):
        if self._current is not None and self._current["status"] in ("skipped", "ok"):
            self._current["status"] = status

    def v2_runner_on_ok(self, result):
        self._status("changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._status("failed")

    def v2_runner_on_unreachable(self, result):
        self._status("unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close()
        totals = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(self.get_option("path"), "w", encoding="utf-8") as handle:
            json.dump({"wall_seconds": round(time.monotonic() - self._started, 3), "totals": totals,
                       "tasks": self._tasks}, handle, indent=1)
