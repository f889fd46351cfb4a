# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply-mode guards that must stop a run BEFORE anything is written, and the dashboard applied alone.

Runs the real ansible-playbook against the FakeKubeApiServer stand-in of test_convex_backend_apply.py
(which answers 422 to a forbidden StatefulSet update and 404 to objects in a missing namespace, as
kube-apiserver does; it cites where) and the fake `docker` of tests/unit/fakebin/docker_images.py.
Variables come from inventory files (group_vars/all.yml = the project's contract, host_vars = this
machine), the way users set them.
"""
from __future__ import annotations

import json

import pytest
import yaml

from playbook_runner import ansible_playbook
from test_convex_backend import GROUP_VARS, OTHER_SHA, PLAY, SECRET
from test_convex_backend_apply import convex, kube, registry  # noqa: F401  pylint: disable=unused-import

SHA = GROUP_VARS["convex_image_sha"]
DASHBOARD_ONLY = """
- name: Apply only the dashboard, as --tags convex_dashboard does.
  hosts: localhost
  gather_facts: false
  roles:
    - role: joelclaw.macmini.convex_dashboard
"""


def host_vars(tmp_path, kubeconfig, **overrides):
    """What a user puts in host_vars/<mac>.yml: apply mode, the kubeconfig, the state dir."""
    result = {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": True,
              "convex_kubeconfig": str(kubeconfig), "convex_backend_admin_url": "http://127.0.0.1:9"}
    result.update(overrides)
    return result


def run(tmp_path, name, play, hvars):
    return ansible_playbook(tmp_path / name, play, group_vars=GROUP_VARS, host_vars=hvars)


def live_statefulset(sha=SHA, storage="5Gi", instance="joelclaw", defaults=True):
    """The backend StatefulSet as the API server returns it after an earlier converge of these roles."""
    labels = {"app.kubernetes.io/name": "convex-backend", "app.kubernetes.io/instance": instance}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "labels": labels},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}
    if defaults:  # what defaulting adds to a claim template (volumeMode, an empty status)
        claim["spec"]["volumeMode"] = "Filesystem"
        claim["status"] = {"phase": "Pending"}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "convex", "namespace": "joelclaw", "generation": 1, "resourceVersion": "1",
                         "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"serviceName": "convex-svc", "replicas": 1, "podManagementPolicy": "Parallel",
                     "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "backend", "image": "ghcr.io/get-convex/convex-backend:" + sha}]}},
                     "volumeClaimTemplates": [claim]}}


def seed(server, obj):
    meta = obj["metadata"]
    plural = {"StatefulSet": "statefulsets", "Namespace": "namespaces"}[obj["kind"]]
    server.objects[(plural, meta.get("namespace"), meta["name"])] = obj


def namespace():
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "joelclaw", "generation": 1, "resourceVersion": "1", "uid": "n1",
                         "creationTimestamp": "2026-01-01T00:00:00Z"}}


def writes(server):
    return [r for r in server.requests if r[0] in ("PATCH", "PUT", "POST", "DELETE")]


# ---------------------------------------------------------------- item 7: immutable StatefulSet fields
@pytest.mark.parametrize("overrides, field", [
    ({"convex_backend_storage_size": "10Gi"}, "spec.volumeClaimTemplates[data].spec.resources.requests.storage"),
    ({"convex_instance_name": "joelclaw2"}, "spec.selector.matchLabels.app.kubernetes.io/instance"),
])
def test_an_immutable_statefulset_change_fails_before_anything_is_written(tmp_path, kube, overrides, field):
    server, kubeconfig = kube
    seed(server, namespace())
    seed(server, live_statefulset())
    result = run(tmp_path, "run", PLAY, host_vars(tmp_path, kubeconfig, **overrides))
    assert result.rc != 0, result.output
    assert field in result.output
    assert "--cascade=orphan" in result.output and "Nothing was" in result.output
    assert writes(server) == [], "written before the refusal: %s" % [r[:2] for r in writes(server)]
    assert not (tmp_path / "state" / "convex-instance-secret").exists()


# ---------------------------------------------------------------- item 8: the dashboard alone
def test_the_dashboard_applied_alone_on_a_fresh_cluster_ensures_its_namespace(tmp_path, kube):
    server, kubeconfig = kube
    result = run(tmp_path, "run", DASHBOARD_ONLY, host_vars(tmp_path, kubeconfig))
    assert result.rc == 0, result.output
    patches = [r[1] for r in server.requests if r[0] == "PATCH"]
    assert patches[0] == "/api/v1/namespaces/joelclaw", patches
    assert ("deployments", "joelclaw", "convex-dashboard") in server.objects
    labels = server.objects[("namespaces", None, "joelclaw")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


# ---------------------------------------------------------------- item 9: no silent version change
def test_a_converge_never_moves_the_live_sha_and_a_rollback_must_be_explicit(tmp_path, kube, convex):  # noqa: F811
    server, kubeconfig = kube
    seed(server, namespace())
    seed(server, live_statefulset(sha=OTHER_SHA, defaults=False))  # e.g. after playbooks/upgrade.yml
    refused = run(tmp_path, "refused", PLAY, host_vars(tmp_path, kubeconfig))
    assert refused.rc != 0
    assert "The backend runs %s but convex_image_sha is %s" % (OTHER_SHA, SHA) in refused.output
    assert writes(server) == []
    # The explicit variable lets it through (the Convex stand-in answers the admin key check).
    ports = json.loads(json.dumps(GROUP_VARS["convex_published_ports"]))
    ports["dashboard"]["host_port"] = convex[1]
    rollback = run(tmp_path, "rollback", PLAY, host_vars(tmp_path, kubeconfig, convex_backend_version_change="rollback",
                                                         convex_backend_admin_url=convex[0], convex_published_ports=ports,
                                                         convex_backend_instance_secret=SECRET))
    assert rollback.rc == 0, rollback.output
    image = server.objects[("statefulsets", "joelclaw", "convex")]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":" + SHA)
    record = yaml.safe_load((tmp_path / "state" / "convex-version.yml").read_text())
    assert [entry["sha"] for entry in record["history"]] == [OTHER_SHA, SHA] and record["sha"] == SHA
    assert oct((tmp_path / "state" / "convex-version.yml").stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------- item 2: images that cannot be pulled
def test_an_image_tag_upstream_never_built_fails_before_anything_is_written(tmp_path, kube, registry):  # noqa: F811
    server, kubeconfig = kube
    state = json.loads(registry.read_text())
    state["images"] = {ref: platforms for ref, platforms in state["images"].items() if "dashboard" not in ref}
    registry.write_text(json.dumps(state))
    result = run(tmp_path, "run", PLAY, host_vars(tmp_path, kubeconfig))
    assert result.rc != 0
    assert "no such manifest: ghcr.io/get-convex/convex-dashboard:%s" % SHA in result.output, result.output[-3000:]
    assert "release branch" in result.output
    assert writes(server) == []
    calls = json.loads(registry.read_text())["calls"]
    assert {c["docker_host"] for c in calls} == {"unix://%s/default/docker.sock" % (tmp_path / "colima")}
