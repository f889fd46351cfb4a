# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postgres TLS settings of convex_backend, with the variables in an inventory as users set them.

What the backend does (get-convex/convex-backend at 94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731):
* crates/clusters/src/lib.rs persistence_args_from_cluster_url appends sslmode=require to the URL
  unless DO_NOT_REQUIRE_SSL is set (crates/local_backend/src/main.rs: require_ssl = !do_not_require_ssl);
* crates/db_connection/src/lib.rs then collects the query pairs into a HashMap, so that later
  `require` wins over a `?sslmode=disable` already in the URL;
* crates/postgres/src/lib.rs create_pool trusts the native roots plus the PEM file named by PG_CA_FILE.
So TLS is off only with DO_NOT_REQUIRE_SSL and sslmode=disable together, and a private CA needs PG_CA_FILE.
"""
from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbook_runner import RENDER_CONVERGE, ansible_playbook_with_inventory, write_inventory

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))
PG_PASSWORD = "pg-test-password-not-real"
URL = "postgres://convex:%s@postgres-svc.joelclaw.svc.cluster.local:5432" % PG_PASSWORD
SECRET = "c0ffee" * 10 + "abcd"  # a test fixture, not a real secret

CONVERGE = RENDER_CONVERGE


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory):
    """A throwaway self-signed CA certificate, as a private Postgres operator (CNPG) would have."""
    base = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(base / "key.pem"), "-out", str(base / "ca.pem"), "-days", "2",
                    "-subj", "/CN=test-postgres-ca"], check=True, capture_output=True)
    return (base / "ca.pem").read_text()


def render(tmp_path, **host_vars):
    settings = {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False,
                "convex_backend_instance_secret": SECRET}
    settings.update(host_vars)
    inventory = write_inventory(tmp_path, settings)
    play = tmp_path / "converge.yml"
    play.write_text(CONVERGE)
    return ansible_playbook_with_inventory(tmp_path / "run", play, inventory)


def manifests(tmp_path):
    base = tmp_path / "state" / "manifests" / "convex_backend"
    return {p.stem: yaml.safe_load(p.read_text()) for p in base.glob("*.yml")}, sorted(base.glob("*.yml"))


def backend_env(objects):
    container = objects["statefulset"]["spec"]["template"]["spec"]["containers"][0]
    return container, {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("url", [URL + "?sslmode=disable", URL + "/?sslmode=prefer&connect_timeout=5"])
def test_sslmode_without_do_not_require_ssl_is_refused_before_any_change(tmp_path, url):
    run = render(tmp_path, convex_backend_postgres_url=url)
    assert run.rc != 0, run.output
    assert "sslmode=require" in run.output and "convex_backend_do_not_require_ssl" in run.output, run.output
    assert "convex_backend_postgres_ca_cert" in run.output
    assert PG_PASSWORD not in run.output
    assert not (tmp_path / "state").exists()


def test_tls_off_needs_both_settings_and_renders_them(tmp_path):
    run = render(tmp_path, convex_backend_postgres_url=URL + "?sslmode=disable", convex_backend_do_not_require_ssl=True)
    assert run.rc == 0, run.output
    objects, _files = manifests(tmp_path)
    _container, env = backend_env(objects)
    assert env["DO_NOT_REQUIRE_SSL"]["value"] == "true"
    assert "PG_CA_FILE" not in env
    assert base64.b64decode(objects["secret"]["data"]["postgres-url"]).decode().endswith("?sslmode=disable")


def test_a_private_ca_keeps_tls_and_is_mounted_for_pg_ca_file(tmp_path, ca_pem):
    run = render(tmp_path, convex_backend_postgres_url=URL, convex_backend_postgres_ca_cert=ca_pem)
    assert run.rc == 0, run.output
    objects, files = manifests(tmp_path)
    container, env = backend_env(objects)
    assert "DO_NOT_REQUIRE_SSL" not in env
    path = env["PG_CA_FILE"]["value"]
    mounts = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    volume = next(v for v in objects["statefulset"]["spec"]["template"]["spec"]["volumes"] if v["name"] == mounts[0]["name"])
    item = volume["secret"]["items"][0]
    assert volume["secret"]["secretName"] == GROUP_VARS["convex_backend_secret_name"]
    assert mounts[0]["mountPath"].rstrip("/") + "/" + item["path"] == path
    assert base64.b64decode(objects["secret"]["data"][item["key"]]).decode() == ca_pem
    proc = subprocess.run([KUBERNETES_VALIDATE, "--strict", "--quiet", "-k", GROUP_VARS["convex_kubernetes_version"],
                           *map(str, files)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("overrides,needle", [
    ({"convex_backend_postgres_ca_cert": "not a certificate"}, "is not a PEM certificate"),
    ({"convex_backend_postgres_url": "", "convex_backend_postgres_ca_cert": "PEM"}, "without convex_backend_postgres_url"),
    ({"convex_backend_postgres_url": URL + "?sslmode=disable", "convex_backend_do_not_require_ssl": True,
      "convex_backend_postgres_ca_cert": "PEM"}, "sslmode=disable turns TLS off"),
])
def test_a_ca_that_cannot_be_used_is_refused(tmp_path, ca_pem, overrides, needle):
    settings = {"convex_backend_postgres_url": URL}
    settings.update(overrides)
    if settings["convex_backend_postgres_ca_cert"] == "PEM":
        settings["convex_backend_postgres_ca_cert"] = ca_pem
    run = render(tmp_path, **settings)
    assert run.rc != 0, run.output
    assert needle in run.output, run.output
    assert not (tmp_path / "state").exists()
