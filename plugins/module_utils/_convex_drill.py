# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""The restore drill: restore a verified backup set into a throwaway backend and prove it.

The set is verified as playbooks/restore.yml verifies it (_convex_backup.verify_set), imported
with replaceAll into the DRILL backend, its environment variables set there, and then the drill
backend is read back: a fresh export of it is counted per table with the same table_counts the
backup itself used, and its variable names are listed. Both are compared with the set's manifest
and env sidecar. The counts come from the drill backend, never from the backup's ZIP again.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import int64
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import (
    download_export, request_export, run_import)

RESULT_FORMAT = 1


def compare(manifest, variables, counts, env_names):
    """Problems (strings) between what the set promises and what the drill backend holds."""
    problems = []
    wanted = manifest.get("tables") or {}
    missing = sorted(set(wanted) - set(counts))
    extra = sorted(set(counts) - set(wanted))
    if missing:
        problems.append("tables missing after the restore: %s" % ", ".join(missing))
    if extra:
        problems.append("tables the backup does not have: %s" % ", ".join(extra))
    for table in sorted(set(wanted) & set(counts)):
        if counts[table] != wanted[table]:
            problems.append("table %s holds %d documents; the manifest says %d" % (table, counts[table], wanted[table]))
    missing_env = sorted(set(variables) - set(env_names))
    extra_env = sorted(set(env_names) - set(variables))
    if missing_env:
        problems.append("environment variables missing after the restore: %s" % ", ".join(missing_env))
    if extra_env:
        problems.append("environment variables the backup does not have: %s" % ", ".join(extra_env))
    return problems


def drill(client, entry, deadline, chunk_size, work_dir, request_timeout=None):
    """Verify, import into the drill backend, read it back and compare.

    Returns a dict: ok, problems, tables (read back), documents, env_names, manifest, import's rows.
    Raises ConvexError for a set that fails verification or a backend that fails a call.
    """
    manifest, variables = backup.verify_set(entry)
    imported = run_import(client, entry["zip"], "replaceAll", deadline, chunk_size, request_timeout)
    changes = backup.env_changes(client.list_env(timeout=request_timeout), variables)
    if changes:
        client.update_env(changes, timeout=request_timeout)
    env_names = sorted(client.list_env(timeout=request_timeout))
    staging = tempfile.mkdtemp(prefix="convex-drill-", dir=work_dir)
    try:
        doc = request_export(client, bool(manifest.get("include_storage")), deadline, request_timeout=request_timeout)
        download = download_export(client, int64(doc["start_ts"]), staging, request_timeout=request_timeout,
                                   force=True)
        counts = backup.table_counts(download["path"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    problems = compare(manifest, variables, counts, env_names)
    return {
        "ok": not problems,
        "problems": problems,
        "tables": counts,
        "documents": backup.document_count(counts),
        "env_names": env_names,
        "manifest": manifest,
        "rows_written": imported.get("rows_written"),
    }


def result_record(ok, backup_name, started, finished, problems, documents=None):
    """What the drill result file holds (no secret, no variable value)."""
    return {
        "format": RESULT_FORMAT,
        "ok": bool(ok),
        "date": backup.iso_utc(finished),
        "date_unix": round(finished, 3),
        "rto_seconds": round(finished - started, 3),
        "backup": backup_name,
        "documents": documents,
        "problems": list(problems),
    }


def write_result(path, record):
    """Write the record 0600 (atomically); the directory is created 0700 when missing."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        backup.ensure_private_dir(directory)
    backup.write_private_json(path, record)
