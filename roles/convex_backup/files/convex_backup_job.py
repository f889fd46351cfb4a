# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled Convex backup job (installed by the joelclaw.macmini.convex_backup role).

Runs without Ansible and without the controller: the role installs the collection's own
module_utils (_convex_client, _convex_env_file, _convex_snapshot, _convex_backup, _convex_offsite)
under lib/ansible_collections/joelclaw/macmini/plugins/module_utils/, as they are in the
collection. They import nothing from Ansible (the client takes its HTTP transport as an argument
and defaults to the standard library's), so this file imports them as they are, with no shim. The
export, verification, manifest, retention and offsite logic is the collection's, unchanged.

    python3 convex_backup_job.py --config <dir>/config.json

Logs one line per outcome to stderr (the journal on Linux, the LaunchAgent's log file on
macOS); exits 1 when no new good backup was made.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(message):
    sys.stderr.write("%s convex-backup: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message))
    sys.stderr.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Take a verified Convex backup and apply retention.")
    parser.add_argument("--config", default=os.path.join(HERE, "config.json"))
    args = parser.parse_args(argv)
    lib = os.path.join(HERE, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
    from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient
    from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline

    os.umask(0o077)
    try:
        config = backup.load_job_config(args.config)
    except (OSError, ValueError) as exc:
        log("FAILED: config %s: %s" % (args.config, exc))
        return 1

    def client_factory(conf, key):
        return ConvexClient(conf["url"], key, timeout=conf["request_timeout"], validate_certs=conf["validate_certs"],
                            ca_path=conf["ca_path"], instance_name=conf["instance_name"])

    return backup.run_job(config, client_factory, Deadline, log)


if __name__ == "__main__":
    sys.exit(main())
