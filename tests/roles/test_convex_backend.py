# Copyright (c) 2026 joelclaw.macmini contributors
# MIT License (see LICENSE)
"""convex_backend and convex_dashboard in render mode, with real ansible-playbook runs.

Every rendered manifest is checked against the official Kubernetes schemas of the cluster's
version with `kubernetes-validate --strict`, and the objects themselves are inspected.
Bad input must fail before anything is written: each case runs for real (not --check) into an
empty state directory and asserts that the directory still does not exist afterwards.
"""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = yaml.safe_load((ROOT / "group_vars" / "all" / "main.yml").read_text())
BACKEND_DEFAULTS = yaml.safe_load((ROOT / "roles" / "convex_backend" / "defaults" / "main.yml").read_text())
K8S_VERSION = BACKEND_DEFAULTS["convex_backend_kubernetes_version"]
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))

SHA = GROUP_VARS["convex_image_sha"]
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
SECRET = "c0ffee" * 10 + "abcd"  # 64 hex characters; a test fixture, not a real secret
PG_PASSWORD = "pg-test-password-not-real"

PLAY = """
- name: Converge the Convex workloads in render mode.
  hosts: localhost
  gather_facts: false
  roles:
    - role: joelclaw.macmini.convex_backend
    - role: joelclaw.macmini.convex_dashboard
"""

UPGRADE = str(ROOT / "playbooks" / "upgrade.yml")

# Variable sets that must render and validate.
VARIABLE_SETS = {
    "defaults": {},
    "postgres": {
        "convex_backend_postgres_url": "postgres://convex:%s@postgres-svc.joelclaw.svc.cluster.local:5432" % PG_PASSWORD,
        "convex_backend_do_not_require_ssl": True,
        "convex_backend_instance_secret": SECRET,
    },
    "custom_resources": {
        "convex_backend_storage_size": "20Gi",
        "convex_backend_storage_class": "local-path",
        "convex_backend_cpu_request": "1",
        "convex_backend_memory_request": "1Gi",
        "convex_backend_cpu_limit": "4",
        "convex_backend_memory_limit": "6Gi",
        "convex_backend_disable_beacon": "false",  # a string, as an inventory may say it
        "convex_backend_redact_logs_to_client": False,
        "convex_backend_document_retention_delay": 172800,
        "convex_backend_metrics_enabled": True,
        "convex_backend_extra_env": {"APPLICATION_MAX_CONCURRENT_QUERIES": 32},
        "convex_dashboard_cpu_limit": "1",
        "convex_dashboard_memory_limit": "1Gi",
        "convex_dashboard_replicas": 2,
    },
}

# The backend's run_backend.sh turns these on for ANY non-empty value.
PRESENCE_FLAGS = {
    "DISABLE_BEACON": "convex_backend_disable_beacon",
    "REDACT_LOGS_TO_CLIENT": "convex_backend_redact_logs_to_client",
    "DO_NOT_REQUIRE_SSL": "convex_backend_do_not_require_ssl",
}


def variables(tmp_path, **overrides):
    """The group_vars contract plus a private state dir under tmp_path, then the overrides."""
    result = dict(GROUP_VARS)
    result.update({"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False})
    result.update(overrides)
    return result


def rendered(tmp_path):
    """{'convex_backend/statefulset.yml': object, ...} for every rendered manifest."""
    base = tmp_path / "state" / "manifests"
    return {str(p.relative_to(base)): yaml.safe_load(p.read_text()) for p in sorted(base.glob("*/*.yml"))}


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def strict_validate(paths):
    return subprocess.run([KUBERNETES_VALIDATE, "--strict", "--quiet", "-k", K8S_VERSION, *map(str, paths)],
                          capture_output=True, text=True, check=False)


def assert_converged(run):
    assert run.rc == 0, run.output
    return run.recap()


# ---------------------------------------------------------------- renders, validates, idempotent
@pytest.mark.parametrize("name", sorted(VARIABLE_SETS))
def test_render_validates_strictly_and_is_idempotent(run_playbook, tmp_path, name):
    extra = variables(tmp_path, **VARIABLE_SETS[name])
    first = assert_converged(run_playbook(PLAY, extra, check=False))
    assert first["changed"] > 0

    files = sorted((tmp_path / "state" / "manifests").glob("*/*.yml"))
    names = {str(p.relative_to(tmp_path / "state" / "manifests")) for p in files}
    assert {"convex_backend/namespace.yml", "convex_backend/secret.yml", "convex_backend/service.yml",
            "convex_backend/statefulset.yml", "convex_dashboard/service.yml",
            "convex_dashboard/deployment.yml"} <= names
    result = strict_validate(files)
    assert result.returncode == 0, result.stdout + result.stderr

    second = run_playbook(PLAY, extra, check=False)
    assert assert_converged(second)["changed"] == 0, "the second converge changed something:\n" + second.stdout

    objects = rendered(tmp_path)
    sts = objects["convex_backend/statefulset.yml"]
    pod = sts["spec"]["template"]["spec"]
    backend = pod["containers"][0]
    env = env_of(backend)

    # Single writer, data volume, pinned image shared with the dashboard.
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == "convex-svc"
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == extra.get("convex_backend_storage_size", "5Gi")
    assert {"name": claim["metadata"]["name"], "mountPath": "/convex/data"} in backend["volumeMounts"]
    dashboard = objects["convex_dashboard/deployment.yml"]["spec"]["template"]["spec"]["containers"][0]
    for image in (backend["image"], dashboard["image"]):
        assert not image.endswith(":latest")
        assert image.rsplit(":", 1)[1] == SHA

    # SIGINT on stop, probes on /version, resources as configured.
    assert "kill -INT 1" in " ".join(backend["lifecycle"]["preStop"]["exec"]["command"])
    assert pod["terminationGracePeriodSeconds"] >= 10
    assert pod["enableServiceLinks"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert backend[probe]["httpGet"] == {"path": "/version", "port": "api"}
    startup = backend["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert backend["resources"]["limits"]["memory"] == extra.get("convex_backend_memory_limit", "2Gi")
    assert backend["resources"]["requests"]["cpu"] == extra.get("convex_backend_cpu_request", "250m")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert dashboard[probe]["httpGet"] == {"path": "/", "port": "http"}

    # Secret references, origins always set, no flag set to a false-looking value.
    assert env["INSTANCE_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "convex-secrets", "key": "instance-secret"}
    assert "value" not in env["INSTANCE_SECRET"]
    assert env["INSTANCE_NAME"]["value"] == "joelclaw"
    assert env["CONVEX_CLOUD_ORIGIN"]["value"].startswith("https://")
    assert env["CONVEX_SITE_ORIGIN"]["value"].startswith("https://")
    assert env["CONVEX_CLOUD_ORIGIN"]["value"] != env["CONVEX_SITE_ORIGIN"]["value"]
    for flag, var in PRESENCE_FLAGS.items():
        wanted = str(extra.get(var, BACKEND_DEFAULTS[var])).lower() == "true"
        assert (flag in env) is wanted, (flag, extra.get(var))
        if flag in env:
            assert env[flag]["value"] == "true"
    for item in env.values():
        if "value" in item and item["name"] in PRESENCE_FLAGS:
            assert item["value"].lower() not in ("", "false", "0", "no", "off")

    secret = objects["convex_backend/secret.yml"]
    if "convex_backend_postgres_url" in extra:
        assert env["POSTGRES_URL"]["valueFrom"]["secretKeyRef"] == {"name": "convex-secrets", "key": "postgres-url"}
        assert base64.b64decode(secret["data"]["postgres-url"]).decode() == extra["convex_backend_postgres_url"]
        assert base64.b64decode(secret["data"]["instance-secret"]).decode() == SECRET
    else:
        assert "POSTGRES_URL" not in env and "postgres-url" not in secret["data"]
    if name == "custom_resources":
        assert env["DOCUMENT_RETENTION_DELAY"]["value"] == "172800"
        assert env["DISABLE_METRICS_ENDPOINT"]["value"] == "false"
        assert env["APPLICATION_MAX_CONCURRENT_QUERIES"]["value"] == "32"
        assert claim["spec"]["storageClassName"] == "local-path"
        assert objects["convex_dashboard/deployment.yml"]["spec"]["replicas"] == 2
    else:
        assert "DOCUMENT_RETENTION_DELAY" not in env and "storageClassName" not in claim["spec"]

    # Host exposure: the NodePorts from the contract.
    ports = {p["name"]: p for p in objects["convex_backend/service.yml"]["spec"]["ports"]}
    assert objects["convex_backend/service.yml"]["spec"]["type"] == "NodePort"
    assert ports["api"]["nodePort"] == GROUP_VARS["convex_published_ports"]["api"]["node_port"]
    assert ports["site"]["nodePort"] == GROUP_VARS["convex_published_ports"]["site"]["node_port"]
    dash_ports = objects["convex_dashboard/service.yml"]["spec"]["ports"]
    assert dash_ports[0]["nodePort"] == GROUP_VARS["convex_published_ports"]["dashboard"]["node_port"]


def test_strict_validation_rejects_an_unknown_field(run_playbook, tmp_path):
    """The schema check can fail: a typo'd field in a rendered manifest is refused."""
    assert_converged(run_playbook(PLAY, variables(tmp_path), check=False))
    path = tmp_path / "state" / "manifests" / "convex_backend" / "statefulset.yml"
    obj = yaml.safe_load(path.read_text())
    obj["spec"]["template"]["spec"]["containers"][0]["startupProbes"] = obj["spec"]["template"]["spec"]["containers"][0].pop("startupProbe")
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(obj))
    result = strict_validate([bad])
    assert result.returncode != 0
    assert "startupProbes" in result.stdout + result.stderr


# ---------------------------------------------------------------- secrets
def test_instance_secret_is_generated_once_kept_private_and_never_logged(run_playbook, tmp_path):
    extra = variables(tmp_path)
    first = run_playbook(PLAY, extra, check=False, verbosity=2)
    assert_converged(first)
    state = tmp_path / "state"
    secret_file = state / "convex-instance-secret"
    value = secret_file.read_text().strip()
    assert len(value) == 64 and int(value, 16) >= 0
    encoded = base64.b64encode(value.encode()).decode()

    second = run_playbook(PLAY, extra, check=False, verbosity=2)
    assert assert_converged(second)["changed"] == 0
    assert secret_file.read_text().strip() == value, "a re-run rotated the instance secret"

    for output in (first.output, second.output):
        assert value not in output and encoded not in output
    for path in state.rglob("*"):
        if path.is_file():
            mode = stat.S_IMODE(path.stat().st_mode)
            text = path.read_text()
            if value in text or encoded in text:
                assert path.name in ("convex-instance-secret", "secret.yml"), path
                assert mode == 0o600, (path, oct(mode))
        elif path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    manifest = yaml.safe_load((state / "manifests" / "convex_backend" / "secret.yml").read_text())
    assert base64.b64decode(manifest["data"]["instance-secret"]).decode() == value


def test_vaulted_secret_and_postgres_password_never_appear_in_output(run_playbook, tmp_path):
    extra = variables(tmp_path, **VARIABLE_SETS["postgres"])
    run = run_playbook(PLAY, extra, check=False, verbosity=3)
    assert_converged(run)
    assert SECRET not in run.output
    assert PG_PASSWORD not in run.output
    for path in (tmp_path / "state" / "manifests").rglob("*.yml"):
        if path.name != "secret.yml":
            assert PG_PASSWORD not in path.read_text() and SECRET not in path.read_text(), path


def test_a_different_secret_is_refused_unless_rotation_is_allowed(run_playbook, tmp_path):
    assert_converged(run_playbook(PLAY, variables(tmp_path), check=False))
    secret_file = tmp_path / "state" / "convex-instance-secret"
    before = secret_file.read_text()
    refused = run_playbook(PLAY, variables(tmp_path, convex_backend_instance_secret=SECRET), check=False)
    assert refused.rc != 0
    assert "invalidates every admin key" in refused.output
    assert "convex_backend_instance_secret_allow_rotation" in refused.output
    assert SECRET not in refused.output
    assert secret_file.read_text() == before

    rotated = run_playbook(PLAY, variables(tmp_path, convex_backend_instance_secret=SECRET,
                                           convex_backend_instance_secret_allow_rotation=True), check=False)
    assert_converged(rotated)
    assert secret_file.read_text().strip() == SECRET


# ---------------------------------------------------------------- bad input fails before any change
BAD_INPUT = {
    "short secret": ({"convex_backend_instance_secret": "abc123"}, "convex_backend_instance_secret is 6 characters"),
    "non-hex secret": ({"convex_backend_instance_secret": "g" * 64}, "contains non-hex characters"),
    "latest image": ({"convex_backend_image": "ghcr.io/get-convex/convex-backend:latest"}, "tag 'latest'"),
    "tag-less image": ({"convex_dashboard_image": "ghcr.io/get-convex/convex-dashboard"}, "convex_dashboard_image is 'ghcr.io/get-convex/convex-dashboard' (tag '')"),
    "shas differ": ({"convex_dashboard_image": "ghcr.io/get-convex/convex-dashboard:" + OTHER_SHA}, "the same full"),
    "postgres url with a database": (
        {"convex_backend_postgres_url": "postgres://convex:%s@db:5432/convex" % PG_PASSWORD}, "path '/convex'"),
    "postgres url without a user": ({"convex_backend_postgres_url": "postgres://db.example:5432"}, "user ''"),
    "two replicas": ({"convex_backend_replicas": 2}, "convex_backend_replicas is 2; expected 1"),
    "storage size not a quantity": ({"convex_backend_storage_size": "5 GB"}, "convex_backend_storage_size is '5 GB'"),
    "memory limit not a quantity": ({"convex_backend_memory_limit": "2GB"}, "convex_backend_memory_limit is '2GB'"),
    "empty origin": ({"convex_site_origin": ""}, "convex_site_origin is ''"),
    "same origins": ({"convex_site_origin": "https://macmini.example-tailnet.ts.net"}, "are both"),
    "loopback inngest url": ({"convex_backend_inngest_url": "http://localhost:8288"}, "host 'localhost'"),
    "extra env overrides a flag": ({"convex_backend_extra_env": {"DISABLE_BEACON": "false"}}, "has the key 'DISABLE_BEACON'"),
    "built-in deployment variable": ({"convex_backend_deployment_env": {"CONVEX_SITE_URL": "x"}}, "'CONVEX_SITE_URL'"),
    "node port out of range": (
        {"convex_published_ports": {**GROUP_VARS["convex_published_ports"], "api": {"host_port": 3210, "node_port": 3210}}},
        "convex_published_ports.api.node_port is 3210"),
    "prefill without a key": ({"convex_dashboard_prefill_admin_key": True}, "convex_dashboard_admin_key is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_before_any_change(run_playbook, tmp_path, case):
    overrides, message = BAD_INPUT[case]
    run = run_playbook(PLAY, variables(tmp_path, **overrides), check=False)
    assert run.rc != 0, run.output
    assert message in run.output, run.output
    assert run.recap()["changed"] == 0
    assert not (tmp_path / "state").exists(), "a failed validation still wrote files"
    assert PG_PASSWORD not in run.output


# ---------------------------------------------------------------- upgrade.yml (render mode)
def test_upgrade_bumps_backend_and_dashboard_together(run_playbook, tmp_path):
    assert_converged(run_playbook(PLAY, variables(tmp_path), check=False))
    upgrade = (ROOT / "playbooks" / "upgrade.yml").read_text()
    run = run_playbook(upgrade, variables(tmp_path, convex_upgrade_sha=OTHER_SHA), check=False)
    assert run.rc == 0, run.output
    objects = rendered(tmp_path)
    backend = objects["convex_backend/statefulset.yml"]["spec"]["template"]["spec"]["containers"][0]
    dashboard = objects["convex_dashboard/deployment.yml"]["spec"]["template"]["spec"]["containers"][0]
    assert backend["image"].endswith(":" + OTHER_SHA)
    assert dashboard["image"].endswith(":" + OTHER_SHA)


@pytest.mark.parametrize("sha,message", [("latest", "convex_upgrade_sha is 'latest'"), ("", "convex_upgrade_sha is ''")])
def test_upgrade_refuses_a_bad_sha_before_any_change(run_playbook, tmp_path, sha, message):
    upgrade = (ROOT / "playbooks" / "upgrade.yml").read_text()
    run = run_playbook(upgrade, variables(tmp_path, convex_upgrade_sha=sha), check=False)
    assert run.rc != 0
    assert message in run.output, run.output
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------- documentation
@pytest.mark.parametrize("role", ["convex_backend", "convex_dashboard"])
def test_every_default_is_documented_in_argument_specs_and_readme(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name in defaults:
        assert name.startswith(role + "_"), name
        assert name in options, "%s is not in meta/argument_specs.yml" % name
        assert name in readme, "%s is not in README.md" % name
        if "default" in options[name]:
            assert options[name]["default"] == defaults[name], name
    for name, spec in options.items():
        if name.startswith(role + "_"):
            assert name in defaults, "%s is documented but has no default" % name


@pytest.mark.parametrize("role", ["convex_backend", "convex_dashboard"])
def test_ansible_doc_shows_the_role(role):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    result = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "-t", "role", "joelclaw.macmini." + role],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert role + "_" in result.stdout
    assert "Placeholder" not in result.stdout
