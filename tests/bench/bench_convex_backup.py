# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: RPO/RTO figures of a convex_backup set on a ~50 MB dataset (figures, not a timed test).

The Convex TEST STAND-IN runs as its own process on loopback, seeded with incompressible rows
(about 50 MB once zipped). Measured with the collection's code, as the scheduled job runs it:

* backup time: take_backup (list variables, export request, poll, download, sha256, ZIP check,
  table counts, sidecars, rename) - the stand-in's own ZIP writing included;
* verify time: verify_set (sha256, CRCs, table counts, env sidecar), which restore runs first;
* restore time: restore_set (verify, chunked upload, replaceAll import, variables);
* size on disk of the set.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from standin_dataset import SIZE_MB, standin_dataset  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline  # noqa: E402  pylint: disable=wrong-import-position


def main():
    with standin_dataset("bench-convex-backup-") as (client, workdir):
        client.update_env([{"name": "SITE_URL", "value": "https://example.test"}])
        backup_dir = os.path.join(workdir, "backups")

        started = time.monotonic()
        manifest = backup.take_backup(client, backup_dir, True, Deadline(600), request_timeout=120)
        backup_s = time.monotonic() - started

        entry = backup.resolve(backup_dir, "latest")
        started = time.monotonic()
        backup.verify_set(entry)
        verify_s = time.monotonic() - started

        started = time.monotonic()
        result = backup.restore_set(client, entry, Deadline(600), 5 * 1024 * 1024, request_timeout=120)
        restore_s = time.monotonic() - started

        on_disk = sum(os.path.getsize(os.path.join(backup_dir, n)) for n in os.listdir(backup_dir)
                      if os.path.isfile(os.path.join(backup_dir, n)))
        print("convex_backup on a %d MB (raw rows) stand-in dataset, loopback, %d documents:" % (SIZE_MB, manifest["documents"]))
        print("  backup  (export + download + verify + manifest): %6.2f s" % backup_s)
        print("  verify  (sha256 + CRCs + table counts + env):    %6.2f s" % verify_s)
        print("  restore (verify + upload + replaceAll + env):    %6.2f s  (%d documents written)"
              % (restore_s, result["rows_written"]))
        print("  size on disk of the set: %.1f MB (ZIP %.1f MB)" % (on_disk / 1e6, manifest["size"] / 1e6))


if __name__ == "__main__":
    main()
