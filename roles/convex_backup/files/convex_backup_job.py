# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled Convex backup job (installed by the joelclaw.macmini.convex_backup role).

Runs without Ansible: the role copies the collection's own module_utils
(_convex_client, _convex_snapshot, _convex_backup) into lib/ beside this file, and this file
gives them the one Ansible function they import (ansible.module_utils.urls.open_url) as a
small standard-library shim. The export, verification, manifest and retention logic is the
collection's, unchanged.

    python3 convex_backup_job.py --config <dir>/config.json

Logs one line per outcome to stderr (the journal on Linux, the LaunchAgent's log file on
macOS); exits 1 when no new good backup was made.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """follow_redirects='none': a 3xx is an HTTPError, as with Ansible's open_url."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def open_url(url, data=None, headers=None, method=None, use_proxy=True, timeout=10, validate_certs=True,
             http_agent=None, follow_redirects="urllib2", ca_path=None, **_ignored):
    """The subset of ansible.module_utils.urls.open_url the Convex client uses."""
    if validate_certs:
        context = ssl.create_default_context(cafile=ca_path)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    handlers = [urllib.request.HTTPSHandler(context=context)]
    if not use_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    if follow_redirects in ("none", False, "no"):
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    if http_agent:
        request.add_header("User-Agent", http_agent)
    return opener.open(request, timeout=timeout)


def install_shim():
    """Make `from ansible.module_utils.urls import open_url` resolve to the shim above."""
    for name in ("ansible", "ansible.module_utils"):
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
    urls = types.ModuleType("ansible.module_utils.urls")
    urls.open_url = open_url
    sys.modules["ansible.module_utils.urls"] = urls
    sys.modules["ansible"].module_utils = sys.modules["ansible.module_utils"]
    sys.modules["ansible.module_utils"].urls = urls
    lib = os.path.join(HERE, "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)


def log(message):
    sys.stderr.write("%s convex-backup: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message))
    sys.stderr.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Take a verified Convex backup and apply retention.")
    parser.add_argument("--config", default=os.path.join(HERE, "config.json"))
    args = parser.parse_args(argv)
    install_shim()
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
