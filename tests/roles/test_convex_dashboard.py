# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_dashboard on its own, in render mode, with real ansible-playbook runs.

The shared runner and helpers live in test_convex_backend.py; the variable sets there also render
the dashboard next to the backend.
"""
from __future__ import annotations

import base64
import stat

import pytest
import yaml

from test_convex_backend import GROUP_VARS, OTHER_SHA, ansible_playbook, env_of, strict_validate, variables

PLAY = """
- name: Converge the Convex dashboard in render mode.
  hosts: localhost
  gather_facts: false
  roles:
    - role: joelclaw.macmini.convex_dashboard
"""

ADMIN_KEY = "joelclaw|" + "0f" * 37  # the shape of an admin key; a test fixture, not a real key


def manifests(tmp_path):
    return tmp_path / "state" / "manifests" / "convex_dashboard"


def deployment(tmp_path):
    return yaml.safe_load((manifests(tmp_path) / "deployment.yml").read_text())


def test_default_dashboard_points_browsers_at_the_public_api_and_prefills_nothing(tmp_path):
    run = ansible_playbook(tmp_path / "run", PLAY, variables(tmp_path))
    assert run.rc == 0, run.output
    pod = deployment(tmp_path)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = env_of(container)
    assert env["NEXT_PUBLIC_DEPLOYMENT_URL"]["value"] == "https://macmini.example-tailnet.ts.net"
    assert "NEXT_PUBLIC_ADMIN_KEY" not in env
    assert "NEXT_PUBLIC_LOAD_MONACO_INTERNALLY" not in env
    assert not (manifests(tmp_path) / "secret.yml").exists()
    assert container["image"] == "ghcr.io/get-convex/convex-dashboard:" + GROUP_VARS["convex_image_sha"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    result = strict_validate(sorted(manifests(tmp_path).glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr

    # The render tasks write only what differs from what is there (issue #13): an edited manifest, a
    # loosened mode and a loosened directory are each put back by the next converge, and reported.
    rendered = {path.name: path.read_bytes() for path in manifests(tmp_path).glob("*.yml")}
    (manifests(tmp_path) / "deployment.yml").write_bytes(rendered["deployment.yml"] + b"# edited by hand\n")
    (manifests(tmp_path) / "service.yml").chmod(0o666)
    manifests(tmp_path).chmod(0o755)
    again = ansible_playbook(tmp_path / "run2", PLAY, variables(tmp_path))
    assert again.rc == 0, again.output
    assert again.recap()["changed"] == 2, again.output  # the directory task, the manifests loop
    assert {path.name: path.read_bytes() for path in manifests(tmp_path).glob("*.yml")} == rendered
    assert stat.S_IMODE((manifests(tmp_path) / "service.yml").stat().st_mode) == 0o644
    assert stat.S_IMODE(manifests(tmp_path).stat().st_mode) == 0o700


def test_prefilled_key_lives_in_a_private_secret_and_goes_away_when_turned_off(tmp_path):
    on = ansible_playbook(tmp_path / "run1", PLAY, variables(
        tmp_path, convex_dashboard_prefill_admin_key=True, convex_dashboard_admin_key=ADMIN_KEY), verbosity=2)
    assert on.rc == 0, on.output
    assert ADMIN_KEY not in on.output
    secret_path = manifests(tmp_path) / "secret.yml"
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    secret = yaml.safe_load(secret_path.read_text())
    assert base64.b64decode(secret["data"]["admin-key"]).decode() == ADMIN_KEY
    env = env_of(deployment(tmp_path)["spec"]["template"]["spec"]["containers"][0])
    assert env["NEXT_PUBLIC_ADMIN_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "convex-dashboard-admin-key", "key": "admin-key"}
    assert ADMIN_KEY not in (manifests(tmp_path) / "deployment.yml").read_text()
    result = strict_validate(sorted(manifests(tmp_path).glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr

    off = ansible_playbook(tmp_path / "run2", PLAY, variables(tmp_path))
    assert off.rc == 0, off.output
    assert not secret_path.exists()
    assert "NEXT_PUBLIC_ADMIN_KEY" not in env_of(deployment(tmp_path)["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.parametrize("overrides,message", [
    ({"convex_dashboard_image": "ghcr.io/get-convex/convex-dashboard:" + OTHER_SHA}, "expected the dashboard tagged with the backend's"),
    ({"convex_dashboard_image": "ghcr.io/get-convex/convex-dashboard:latest"}, "(tag 'latest')"),
    ({"convex_dashboard_deployment_url": "https://macmini.example-tailnet.ts.net/"}, "with no trailing slash"),
    ({"convex_dashboard_deployment_url": "convex-svc:3210"}, "convex_dashboard_deployment_url is 'convex-svc:3210'"),
    ({"convex_dashboard_prefill_admin_key": True, "convex_dashboard_admin_key": "not-a-key"}, "not of the form"),
    ({"convex_dashboard_memory_limit": "512MB"}, "convex_dashboard_memory_limit is '512MB'"),
])
def test_bad_dashboard_input_fails_before_any_change(tmp_path, overrides, message):
    run = ansible_playbook(tmp_path / "run", PLAY, variables(tmp_path, **overrides))
    assert run.rc != 0
    assert message in run.output, run.output
    assert run.recap()["changed"] == 0
    assert not (tmp_path / "state").exists()
    if "convex_dashboard_admin_key" in overrides:
        assert overrides["convex_dashboard_admin_key"] not in run.output
