# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml with the real ansible-playbook, the variables in inventory files, and the macOS
CLIs faked on PATH (tests/unit/fakebin: macos_system.py, tailscale_cli.py, docker_images.py; each cites
its source). A failed check stops site.yml before its first role; a clean Mac passes on to what follows."""
from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from playbook_runner import ROOT, ansible_playbook_with_inventory, write_inventory

sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import docker_images  # noqa: E402  pylint: disable=wrong-import-position
import macos_system  # noqa: E402  pylint: disable=wrong-import-position
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

HOST = "macmini.example-tailnet.ts.net"
SHA = "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf"  # convex_image_sha in roles/contract/defaults/main.yml


def free_ports(count):
    sockets = [socket.socket() for _index in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def flat(text):
    """The output with whitespace runs (the callback's column padding and line wrapping) made single spaces."""
    return " ".join(text.replace("\\n", " ").replace('"', " ").split())


@pytest.fixture
def mac(tmp_path, monkeypatch):
    """A clean Mac on PATH, and host_vars that keep the checked ports and sizes off this shared machine's."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    macos_system.install(fakebin)
    tailscale_cli.install(fakebin)
    tailscale_cli.write_state(tmp_path / "tailscale.json")
    docker_images.install(fakebin)
    (tmp_path / "colima").mkdir()  # colima v0.10.3 config/files.go: $COLIMA_HOME is used only when it exists
    (tmp_path / "registry.json").write_text(json.dumps({"images": {
        "ghcr.io/get-convex/convex-backend:" + SHA: ["linux/amd64", "linux/arm64"],
        "ghcr.io/get-convex/convex-dashboard:" + SHA: ["linux/amd64", "linux/arm64"]}}))
    monkeypatch.setenv("PATH", "%s%s%s" % (fakebin, os.pathsep, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", str(tmp_path / "tailscale.json"))
    monkeypatch.setenv("FAKE_DOCKER_IMAGES", str(tmp_path / "registry.json"))
    monkeypatch.setenv("COLIMA_HOME", str(tmp_path / "colima"))
    api, site, dashboard, local_api, local_site = free_ports(5)
    host_vars = {
        "convex_state_dir": str(tmp_path / "state"),
        "convex_tailnet_hostname": HOST,
        "colima_talos_disk": 1,
        "convex_backend_storage_size": "1Mi",
        "convex_published_ports": {"api": {"host_port": api, "node_port": 30010},
                                   "site": {"host_port": site, "node_port": 30011}},
        "convex_public_endpoints": {
            "api": {"host": HOST, "port": 443, "tls": "tailscale", "reach": "funnel"},
            "site": {"host": HOST, "port": 8443, "tls": "tailscale", "reach": "funnel"},
            "dashboard": {"host": HOST, "port": dashboard, "tls": "tailscale", "reach": "tailnet"}},
        "caddy_tailscale_sites": [{"name": "api", "local_port": local_api}, {"name": "site", "local_port": local_site}],
    }
    return tmp_path, host_vars


def test_a_failed_check_stops_site_before_any_role(mac):
    tmp_path, host_vars = mac
    tailscale_cli.write_state(tmp_path / "tailscale.json", dns_name="other.example-tailnet.ts.net")
    inventory = write_inventory(tmp_path, host_vars)
    # --check as a safety net: were the preflight to pass by mistake, the roles would change nothing here.
    run = ansible_playbook_with_inventory(tmp_path, ROOT / "site.yml", inventory, check=True)
    assert run.rc != 0, run.output
    text = flat(run.stdout)
    assert "FAIL magicdns_name other.example-tailnet.ts.net -- convex_tailnet_hostname is" in text, run.stdout
    assert "other.example-tailnet.ts.net" in text.split("set it to", 1)[1][:40]  # YAML output quotes it its own way
    assert "Preflight is FAIL: fix magicdns_name (see the report above), then re-run. Nothing was changed." in text
    assert "PLAY [Phase 0" not in run.stdout and "colima_talos" not in run.stdout.split("Preflight is FAIL")[1]
    assert not (tmp_path / "state").exists()


def test_a_clean_mac_passes_on_to_the_converge(mac):
    tmp_path, host_vars = mac
    inventory = write_inventory(tmp_path, host_vars)
    after = tmp_path / "after.yml"
    after.write_text(
        "- name: The preflight.\n"
        "  import_playbook: %s\n"
        "- name: Stand-in for the converge that follows in site.yml.\n"
        "  hosts: macmini\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Leave a mark.\n"
        "      ansible.builtin.file:\n"
        "        path: %s\n"
        "        state: touch\n"
        "        mode: '0600'\n" % (ROOT / "playbooks" / "preflight.yml", tmp_path / "converged"))
    run = ansible_playbook_with_inventory(tmp_path, after, inventory)
    assert run.rc == 0, run.output
    assert "preflight: OK" in run.stdout or "preflight: WARN" in run.stdout, run.stdout
    text = flat(run.stdout)
    for line in ("OK magicdns_name " + HOST, "OK funnel ports 443, 8443", "OK images 2 pullable",
                 "OK power_cut FileVault off, auto-login joel", "OK homebrew Homebrew 4.6.3"):
        assert line in text, run.stdout
    assert "FAIL " not in text
    # Every role's launchd_domain defaults to system: all four are LaunchDaemons, none waits for the login.
    assert ("the LaunchDaemons start at boot without a login: colima_talos, caddy, convex_backup, "
            "convex_health_schedule; macOS logs joel in and the LaunchAgents start: none") in text, run.stdout
    assert (tmp_path / "converged").exists()
    asked = [call["argv"][:3] for call in json.loads(Path(os.environ["FAKE_DOCKER_IMAGES"]).read_text())["calls"]]
    assert asked == [["manifest", "inspect", "ghcr.io/get-convex/convex-backend:" + SHA],
                     ["manifest", "inspect", "ghcr.io/get-convex/convex-dashboard:" + SHA]]


def test_bad_fail_on_value_is_a_clear_error(mac):
    tmp_path, host_vars = mac
    inventory = write_inventory(tmp_path, host_vars)
    run = ansible_playbook_with_inventory(tmp_path, ROOT / "playbooks" / "preflight.yml", inventory,
                                          extra_vars={"preflight_fail_on": "sometimes"})
    assert run.rc != 0 and "preflight_fail_on='sometimes'" in run.output and "fail, warn or never" in run.output
    assert "Check the Mac, its tools" not in run.stdout
