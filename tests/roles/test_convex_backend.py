# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backend and convex_dashboard in render mode, with real ansible-playbook runs.

Every rendered manifest is checked against the official Kubernetes schemas of the cluster's
version with `kubernetes-validate --strict`, and the objects themselves are inspected.
Bad input must fail before anything is written: each case runs for real (not --check) into an
empty state directory and asserts that the directory still does not exist afterwards.
"""
from __future__ import annotations

import base64
import copy
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import pod_security
from playbook_runner import PlaybookRun, ansible_playbook, ansible_playbook_hosts, failure_of, host_name

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
BACKEND_DEFAULTS = yaml.safe_load((ROOT / "roles" / "convex_backend" / "defaults" / "main.yml").read_text())
# The contract's one version (colima_talos creates the cluster with it).
K8S_VERSION = GROUP_VARS["convex_kubernetes_version"]
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))

SHA = GROUP_VARS["convex_image_sha"]
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
SECRET = "c0ffee" * 10 + "abcd"  # 64 hex characters; a test fixture, not a real secret
PG_PASSWORD = "pg-test-password-not-real"
# A secret a user may put in convex_backend_extra_env (the backend's S3 storage knobs take AWS keys).
EXTRA_ENV_SECRET = "extra-env-sentinel-" + "5a" * 12

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
        "convex_backend_extra_env": {"APPLICATION_MAX_CONCURRENT_QUERIES": 32,
                                     "AWS_SECRET_ACCESS_KEY": EXTRA_ENV_SECRET},
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


# ---------------------------------------------------------------- renders, validates, idempotent
@dataclass
class Converged:
    name: str
    host: str
    extra: dict
    base: Path
    first: PlaybookRun
    second: PlaybookRun

    @property
    def state(self):
        return self.base / "state"

    @property
    def files(self):
        return sorted((self.state / "manifests").glob("*/*.yml"))

    def objects(self):
        return rendered(self.base)


@pytest.fixture(scope="module")
def converged_sets(tmp_path_factory):
    """Every variable set converged twice, as one inventory host each of the same two runs (the contract in
    group_vars, the set's values and its own state dir in its host_vars), at -vvv: module arguments and
    results in full, for the leak checks (issue 16). Each host converges on its own; the checks read their
    host's recap and state dir."""
    base = tmp_path_factory.mktemp("backend-sets")
    contract = dict(GROUP_VARS, convex_k8s_apply=False)
    hosts, sets = {}, {}
    for name in VARIABLE_SETS:
        host = "set-" + host_name(name)
        sets[name] = (host, variables(base / host, **VARIABLE_SETS[name]))
        hosts[host] = dict(VARIABLE_SETS[name], convex_state_dir=str(base / host / "state"))
    play = PLAY.replace("hosts: localhost", "hosts: all")
    first = ansible_playbook_hosts(base / "run1", play, hosts, group_vars=contract, verbosity=3)
    second = ansible_playbook_hosts(base / "run2", play, hosts, group_vars=contract, verbosity=3)
    return {name: Converged(name, host, extra, base / host, first, second) for name, (host, extra) in sets.items()}


@pytest.mark.parametrize("name", sorted(VARIABLE_SETS))
def test_variable_set(name, converged_sets, tmp_path):
    """One variable set end to end; each check below is a function so a failure names what broke."""
    converged = converged_sets[name]
    check_converges_then_changes_nothing(converged)
    check_every_manifest_passes_strict_schema_validation(converged)
    check_strict_validation_rejects_an_unknown_field(converged, tmp_path)
    check_rendered_objects_are_what_upstream_needs(converged)
    check_instance_secret_is_kept_private_and_never_logged(converged)
    check_admin_key_env_file_is_written_for_the_cli(converged)
    check_pod_security_labels_and_the_one_remaining_restricted_warning(converged)


def check_converges_then_changes_nothing(converged):
    first, second = converged.first.recap(converged.host), converged.second.recap(converged.host)
    assert first["failed"] == 0 and first["unreachable"] == 0, converged.first.output
    assert first["changed"] > 0
    assert second["failed"] == 0 and second["unreachable"] == 0, converged.second.output
    assert second["changed"] == 0, "the second converge changed something:\n" + converged.second.stdout


def check_every_manifest_passes_strict_schema_validation(converged):
    names = {str(p.relative_to(converged.state / "manifests")) for p in converged.files}
    assert {"convex_backend/namespace.yml", "convex_backend/secret.yml", "convex_backend/service.yml",
            "convex_backend/statefulset.yml", "convex_dashboard/service.yml",
            "convex_dashboard/deployment.yml"} <= names
    result = strict_validate(converged.files)
    assert result.returncode == 0, result.stdout + result.stderr


def check_strict_validation_rejects_an_unknown_field(converged, tmp_path):
    """The schema check can fail: a misspelt field in a rendered manifest is refused."""
    obj = converged.objects()["convex_backend/statefulset.yml"]
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["startupProbes"] = container.pop("startupProbe")
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(obj))
    result = strict_validate([bad])
    assert result.returncode != 0
    assert "startupProbes" in result.stdout + result.stderr


def check_rendered_objects_are_what_upstream_needs(converged):
    extra, objects = converged.extra, converged.objects()
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
        assert dashboard[probe]["httpGet"] == {"path": "/", "port": "http"}
    startup = backend["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert backend["resources"]["limits"]["memory"] == extra.get("convex_backend_memory_limit", "2Gi")
    assert backend["resources"]["requests"]["cpu"] == extra.get("convex_backend_cpu_request", "250m")

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

    secret = objects["convex_backend/secret.yml"]
    if "convex_backend_postgres_url" in extra:
        assert env["POSTGRES_URL"]["valueFrom"]["secretKeyRef"] == {"name": "convex-secrets", "key": "postgres-url"}
        assert base64.b64decode(secret["data"]["postgres-url"]).decode() == extra["convex_backend_postgres_url"]
        assert base64.b64decode(secret["data"]["instance-secret"]).decode() == SECRET
    else:
        assert "POSTGRES_URL" not in env and "postgres-url" not in secret["data"]
    if converged.name == "custom_resources":
        assert env["DOCUMENT_RETENTION_DELAY"]["value"] == "172800"
        assert env["DISABLE_METRICS_ENDPOINT"]["value"] == "false"
        # The extra env may hold secrets: its values are in the Secret, the StatefulSet only refers to them.
        for name, value in extra["convex_backend_extra_env"].items():
            key = "extra-env." + name
            assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "convex-secrets", "key": key}}}
            assert base64.b64decode(secret["data"][key]).decode() == str(value)
        assert claim["spec"]["storageClassName"] == "local-path"
        assert objects["convex_dashboard/deployment.yml"]["spec"]["replicas"] == 2
    else:
        assert "DOCUMENT_RETENTION_DELAY" not in env and "storageClassName" not in claim["spec"]
        assert env["DISABLE_METRICS_ENDPOINT"]["value"] == "true"

    # Host exposure: the NodePorts from the contract.
    service = objects["convex_backend/service.yml"]["spec"]
    ports = {p["name"]: p for p in service["ports"]}
    assert service["type"] == "NodePort"
    assert ports["api"]["nodePort"] == GROUP_VARS["convex_published_ports"]["api"]["node_port"]
    assert ports["site"]["nodePort"] == GROUP_VARS["convex_published_ports"]["site"]["node_port"]
    dash_ports = objects["convex_dashboard/service.yml"]["spec"]["ports"]
    assert dash_ports[0]["nodePort"] == GROUP_VARS["convex_published_ports"]["dashboard"]["node_port"]


def check_pod_security_labels_and_the_one_remaining_restricted_warning(converged):
    """Item 22: enforce baseline, warn/audit restricted; predicted warnings: only the backend's root user."""
    objects = converged.objects()
    labels = objects["convex_backend/namespace.yml"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    backend = objects["convex_backend/statefulset.yml"]["spec"]["template"]["spec"]
    dashboard = objects["convex_dashboard/deployment.yml"]["spec"]["template"]["spec"]
    assert pod_security.baseline(backend) == [] and pod_security.baseline(dashboard) == []
    # The upstream backend image has no USER and root-only binaries (Dockerfile.backend): that one stays.
    assert pod_security.restricted(backend) == ["runAsNonRoot != true"]
    assert pod_security.restricted(dashboard) == []
    assert backend["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # The model itself can fail: a dashboard without its non-root user would warn.
    rooted = copy.deepcopy(dashboard)
    del rooted["securityContext"]["runAsNonRoot"]
    assert pod_security.restricted(rooted) == ["runAsNonRoot != true"]
    sts = objects["convex_backend/statefulset.yml"]["spec"]
    assert sts["podManagementPolicy"] == "Parallel"


# ---------------------------------------------------------------- secrets
def check_instance_secret_is_kept_private_and_never_logged(converged):
    state = converged.state
    value = (state / "convex-instance-secret").read_text().strip()
    assert len(value) == 64 and int(value, 16) >= 0
    if "convex_backend_instance_secret" in converged.extra:
        assert value == converged.extra["convex_backend_instance_secret"]
    encoded = base64.b64encode(value.encode()).decode()
    manifest = yaml.safe_load((state / "manifests" / "convex_backend" / "secret.yml").read_text())
    assert manifest["data"]["instance-secret"] == encoded, "a re-run rotated the instance secret"

    admin_key = [line.split("=", 1)[1] for line in (state / "convex-admin.env").read_text().splitlines()
                 if line.startswith("CONVEX_SELF_HOSTED_ADMIN_KEY=")][0]
    for run in (converged.first, converged.second):
        assert "ESTABLISH LOCAL CONNECTION" in run.output  # -vvv really was on
        for label, needle in (("instance secret", value), ("instance secret, base64", encoded),
                              ("Postgres password", PG_PASSWORD), ("admin key", admin_key),
                              ("admin key, signed part", admin_key.split("|", 1)[-1]),
                              ("convex_backend_extra_env value", EXTRA_ENV_SECRET)):
            assert needle not in run.output, "the converge output shows the " + label
    for path in state.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
            continue
        text = path.read_text()
        if path.name in ("convex-instance-secret", "secret.yml", "convex-admin.env"):
            assert mode == 0o600, (path, oct(mode))
        else:
            for needle in (value, encoded, PG_PASSWORD, EXTRA_ENV_SECRET):
                assert needle not in text, (path, "holds a secret")


def check_admin_key_env_file_is_written_for_the_cli(converged):
    env_file = converged.state / "convex-admin.env"
    text = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "CONVEX_SELF_HOSTED_URL=" in text and "127.0.0.1:3210" in text
    key_line = [line for line in text.splitlines() if line.startswith("CONVEX_SELF_HOSTED_ADMIN_KEY=")]
    assert key_line and key_line[0].split("=", 1)[1].strip("'\"").startswith("joelclaw|")
    key = key_line[0].split("=", 1)[1].strip("'\"")
    assert key not in converged.first.output and key not in converged.second.output


def test_a_different_secret_is_refused_unless_rotation_is_allowed(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    secret_file = state / "convex-instance-secret"
    in_use = "ab" * 32
    secret_file.write_text(in_use + "\n")
    secret_file.chmod(0o600)

    refused = ansible_playbook(tmp_path / "run1", PLAY, variables(tmp_path, convex_backend_instance_secret=SECRET))
    assert refused.rc != 0
    assert "invalidates every admin key" in refused.output
    assert "convex_backend_instance_secret_allow_rotation" in refused.output
    assert SECRET not in refused.output and in_use not in refused.output
    assert secret_file.read_text().strip() == in_use
    assert not (state / "manifests").exists()

    rotated = ansible_playbook(tmp_path / "run2", PLAY, variables(tmp_path, convex_backend_instance_secret=SECRET,
                                                                  convex_backend_instance_secret_allow_rotation=True))
    assert rotated.rc == 0, rotated.output
    assert secret_file.read_text().strip() == SECRET


# ---------------------------------------------------------------- bad input fails before any change
BAD_INPUT = {
    "short secret": ({"convex_backend_instance_secret": "abc123"}, "convex_backend_instance_secret is 6 characters"),
    "non-hex secret": ({"convex_backend_instance_secret": "g" * 64}, "contains non-hex characters"),
    "latest image": ({"convex_backend_image": "ghcr.io/get-convex/convex-backend:latest"}, "tag 'latest'"),
    "tag-less image": ({"convex_dashboard_image": "ghcr.io/get-convex/convex-dashboard"},
                       "convex_dashboard_image is 'ghcr.io/get-convex/convex-dashboard' (tag '')"),
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


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """Every bad-input case of this file as one inventory host of one run: the contract in group_vars,
    the case's values and its own state dir in its host_vars, as users set them. Each host runs the
    play on its own; the tests below read their host's failure and state dir."""
    base = tmp_path_factory.mktemp("backend-refused")
    contract = dict(GROUP_VARS, convex_k8s_apply=False)
    hosts = {}
    for case, (overrides, _message) in BAD_INPUT.items():
        hosts["bad-" + host_name(case)] = dict(overrides, convex_state_dir=str(base / ("bad-" + host_name(case))))
    for case, (variable, suffix) in BAD_DIGESTS.items():
        images = {"convex_backend_image": BACKEND, "convex_dashboard_image": DASHBOARD}
        images[variable] += suffix
        hosts["digest-" + host_name(case)] = dict(images, convex_state_dir=str(base / ("digest-" + host_name(case))))
    assert len(hosts) == len(BAD_INPUT) + len(BAD_DIGESTS)
    run = ansible_playbook_hosts(base / "run", PLAY.replace("hosts: localhost", "hosts: all"), hosts,
                                 group_vars=contract)
    return base, run


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_before_any_change(refused, case):
    base, run = refused
    host = "bad-" + host_name(case)
    _overrides, message = BAD_INPUT[case]
    assert message in failure_of(run, host), run.output
    assert run.recap(host)["changed"] == 0
    assert not (base / host).exists(), "a failed validation still wrote files"
    assert PG_PASSWORD not in run.output


# ---------------------------------------------------------------- image digests
# A digest may follow the tag: one sha256 digest, 64 lowercase hex (opencontainers/go-digest@137fd2bb
# algorithm.go hexDigestRegex; distribution/reference@0965666a regexp.go for the reference grammar).
DIGEST = "sha256:" + "0123456789abcdef" * 4
BACKEND = "ghcr.io/get-convex/convex-backend:" + SHA
DASHBOARD = "ghcr.io/get-convex/convex-dashboard:" + SHA


def images_in_host_vars(tmp_path, backend, dashboard):
    """The contract as extra vars, but the two images in host_vars beside the play, as an inventory sets them."""
    extra = variables(tmp_path)
    del extra["convex_backend_image"], extra["convex_dashboard_image"]
    host_vars = tmp_path / "run" / "host_vars"
    host_vars.mkdir(parents=True)
    (host_vars / "localhost.yml").write_text(yaml.safe_dump(
        {"convex_backend_image": backend, "convex_dashboard_image": dashboard}))
    return extra


def test_image_digest_after_the_tag_reaches_the_manifests(tmp_path):
    backend, dashboard = BACKEND + "@" + DIGEST, DASHBOARD + "@" + DIGEST
    run = ansible_playbook(tmp_path / "run", PLAY, images_in_host_vars(tmp_path, backend, dashboard))
    assert run.rc == 0, run.output
    objects = rendered(tmp_path)
    assert objects["convex_backend/statefulset.yml"]["spec"]["template"]["spec"]["containers"][0]["image"] == backend
    assert objects["convex_dashboard/deployment.yml"]["spec"]["template"]["spec"]["containers"][0]["image"] == dashboard
    result = strict_validate(sorted((tmp_path / "state" / "manifests").glob("*/*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


BAD_DIGESTS = {
    "backend, 63 hex": ("convex_backend_image", "@sha256:" + "0" * 63),
    "backend, upper-case hex": ("convex_backend_image", "@sha256:" + "A" * 64),
    "backend, two digests": ("convex_backend_image", "@" + DIGEST + "@" + DIGEST),
    "backend, not sha256": ("convex_backend_image", "@md5:" + "0" * 64),
    "dashboard, empty digest": ("convex_dashboard_image", "@"),
    "dashboard, text after the digest": ("convex_dashboard_image", "@" + DIGEST + " --privileged"),
}


@pytest.mark.parametrize("case", sorted(BAD_DIGESTS))
def test_malformed_image_digest_is_refused_before_any_change(refused, case):
    base, run = refused
    host = "digest-" + host_name(case)
    variable, suffix = BAD_DIGESTS[case]
    image = {"convex_backend_image": BACKEND, "convex_dashboard_image": DASHBOARD}[variable] + suffix
    assert "%s is '%s'; expected IMAGE:TAG or IMAGE:TAG@sha256:" % (variable, image) in failure_of(run, host), \
        run.output
    assert run.recap(host)["changed"] == 0
    assert not (base / host).exists(), "a failed validation still wrote files"


# ---------------------------------------------------------------- upgrade.yml (render mode)
def upgrade_variables(tmp_path, sha):
    """(inventory settings, per-run switches): upgrade.yml documents convex_upgrade_sha (and its hosts) as -e;
    convex_image_sha is left to the playbook (the images template it)."""
    settings = variables(tmp_path)
    del settings["convex_image_sha"]
    return settings, {"convex_upgrade_sha": sha, "convex_upgrade_hosts": "localhost"}


def test_upgrade_bumps_backend_and_dashboard_together(tmp_path):
    upgrade = (ROOT / "playbooks" / "upgrade.yml").read_text()
    settings, per_run = upgrade_variables(tmp_path, OTHER_SHA)
    run = ansible_playbook(tmp_path / "run", upgrade, settings, per_run=per_run)
    assert run.rc == 0, run.output
    objects = rendered(tmp_path)
    backend = objects["convex_backend/statefulset.yml"]["spec"]["template"]["spec"]["containers"][0]
    dashboard = objects["convex_dashboard/deployment.yml"]["spec"]["template"]["spec"]["containers"][0]
    assert backend["image"].endswith(":" + OTHER_SHA)
    assert dashboard["image"].endswith(":" + OTHER_SHA)


@pytest.mark.parametrize("sha,message", [("latest", "convex_upgrade_sha is 'latest'"), ("", "convex_upgrade_sha is ''")])
def test_upgrade_refuses_a_bad_sha_before_any_change(tmp_path, sha, message):
    upgrade = (ROOT / "playbooks" / "upgrade.yml").read_text()
    settings, per_run = upgrade_variables(tmp_path, sha)
    run = ansible_playbook(tmp_path / "run", upgrade, settings, per_run=per_run)
    assert run.rc != 0
    assert message in run.output, run.output
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------- documentation
# The contract role (defaults only, entry point "contract") has its own drift test in test_contract.py.
ALL_ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml")
                   if p.parent.parent.name != "contract")


def test_the_drift_check_sees_every_role():
    assert sorted(ALL_ROLES + ["contract"]) == sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
    assert len(ALL_ROLES) == 7, ALL_ROLES


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_default_is_documented_in_argument_specs_and_readme(role):
    """defaults/main.yml, meta/argument_specs.yml and README.md name the same variables, and a
    default written in the argument spec (what ansible-doc shows) is the one the role uses."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    readme = (ROOT / "roles" / role / "README.md").read_text()
    problems = []
    for name in defaults:
        if not name.startswith(role + "_"):
            problems.append("%s lacks the %s_ prefix" % (name, role))
        if name not in readme:
            problems.append("%s is not in README.md" % name)
        if name not in options:
            problems.append("%s is not in meta/argument_specs.yml" % name)
        elif "default" in options[name] and options[name]["default"] != defaults[name]:
            problems.append("%s: argument_specs default %r != defaults/main.yml %r"
                            % (name, options[name]["default"], defaults[name]))
    for name in options:
        if name.startswith(role + "_") and name not in GROUP_VARS and name not in defaults:
            problems.append("%s is documented but has no default" % name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["convex_backend", "convex_dashboard"])
def test_ansible_doc_shows_the_role(role):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"))
    result = subprocess.run([str(Path(sys.executable).with_name("ansible-doc")), "-t", "role", "joelclaw.macmini." + role],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert role + "_" in result.stdout
    assert "Placeholder" not in result.stdout
