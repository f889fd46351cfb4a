# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/restore-drill.yml against the REAL kube-apiserver (tests/roles/k8s_harness.py; the
harness plays the StatefulSet controller) and two Convex TEST STAND-INs: the live backend
("joelclaw") and the drill backend ("joelclaw-drill", its own secret), both in this process.

The drill's instance secret is given in host_vars here (convex_restore_drill_instance_secret) only
because the stand-in must start with it before the play; on the Mac it is left empty and generated.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from k8s_harness import control_plane, kube  # noqa: F401  pylint: disable=unused-import
from test_convex_backend_apply import MacProject
from test_k8s_apply import NAMESPACE, SECRET

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
sys.path.insert(0, str(ROOT / ".collections"))
import convex_standin  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import Deadline  # noqa: E402  pylint: disable=wrong-import-position

DRILL = ROOT / "playbooks" / "restore-drill.yml"
DRILL_SECRET = "d1" * 32  # 64 hex characters; a test fixture, not a real secret
ENV = {"SITE_URL": "https://example.test", "RESEND_API_KEY": "re_live_value_never_logged"}
LIVE = [("apps", "statefulsets", "convex"), ("", "secrets", "convex-secrets"),
        ("", "persistentvolumeclaims", "data-convex-0")]
DRILL_OBJECTS = [("apps", "statefulsets", "joelclaw-drill"), ("", "services", "joelclaw-drill-svc"),
                 ("", "secrets", "joelclaw-drill-secrets"), ("", "persistentvolumeclaims", "data-joelclaw-drill-0")]


def path(group, resource, name):
    return "/%s/namespaces/%s/%s/%s" % ("apis/apps/v1" if group == "apps" else "api/v1", NAMESPACE, resource, name)


def gone(obj):
    # No controller-manager here: a deleted PVC keeps its kubernetes.io/pvc-protection finalizer
    # (the apiserver's StorageObjectInUseProtection admission adds it) and stays Terminating.
    return obj is None or "deletionTimestamp" in obj["metadata"]


@pytest.fixture
def live():
    standin = convex_standin.ConvexStandin("joelclaw", SECRET).start()
    standin.state.tables = {"messages": [{"_id": "m%d" % i, "_creationTime": 1.7e12 + i, "body": "hi"} for i in range(7)],
                            "users": [{"_id": "u1", "_creationTime": 1.7e12, "name": "joel"}]}
    standin.state.env = dict(ENV)
    yield standin
    standin.stop()


@pytest.fixture
def drill_backend():
    standin = convex_standin.ConvexStandin("joelclaw-drill", DRILL_SECRET).start()
    yield standin
    standin.stop()


@pytest.fixture
def live_cluster(kube):
    """The live backend's objects as convex_backend leaves them (namespace, Secret, StatefulSet, its PVC)."""
    kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kube.request("POST", "/api/v1/namespaces/%s/secrets" % NAMESPACE, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "convex-secrets"},
        "stringData": {"instance-secret": SECRET}})
    labels = {"app.kubernetes.io/name": "convex-backend", "app.kubernetes.io/instance": "joelclaw"}
    kube.request("POST", "/apis/apps/v1/namespaces/%s/statefulsets" % NAMESPACE, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "convex", "labels": labels},
        "spec": {"serviceName": "convex-svc", "replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "backend", "image": "x"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": labels}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    kube.settle()
    return kube


def versions(kube):
    return {name: (kube.get(path(*obj)) or {}).get("metadata", {}).get("resourceVersion")
            for obj in LIVE for name in [obj[2]]}


def writes_to(kube, names):
    return [e for e in kube.audit_events() if e["verb"] in ("create", "update", "patch", "delete")
            and e.get("objectRef", {}).get("name") in names]


@pytest.fixture
def project(tmp_path, live_cluster, live, drill_backend):
    state = tmp_path / "state"
    client = ConvexClient(live.url, live.admin_key(), timeout=5)
    _convex_backup.take_backup(client, str(state / "backups"), False, Deadline(20), request_timeout=5)
    return MacProject(tmp_path / "project", {
        "convex_state_dir": str(state),
        "convex_kubeconfig": str(live_cluster.kubeconfig),
        "convex_restore_drill_url": drill_backend.url,
        "convex_restore_drill_instance_secret": DRILL_SECRET,
    })


def test_the_drill_restores_into_its_own_backend_compares_reports_and_removes_it(
        project, live_cluster, live, drill_backend, tmp_path):
    before = versions(live_cluster)
    assert all(before.values()), before
    live_before = json.dumps([live.state.tables, live.state.env, sorted(live.state.imports)], sort_keys=True)
    live_cluster.reset_audit()
    run = project.playbook(str(DRILL))
    assert run.rc == 0, run.output
    assert "RTO (start to verified): " in run.stdout and "OK, 8 documents in 2 tables" in run.stdout
    # the drill objects were created through the API, then removed
    created = {e["objectRef"]["name"] for e in live_cluster.audit_events() if e["verb"] in ("create", "patch")}
    assert {"joelclaw-drill", "joelclaw-drill-svc", "joelclaw-drill-secrets"} <= created
    assert all(gone(live_cluster.get(path(*obj))) for obj in DRILL_OBJECTS), [live_cluster.get(path(*o)) for o in DRILL_OBJECTS]
    # the live objects and the live backend were never written
    assert versions(live_cluster) == before
    assert writes_to(live_cluster, [obj[2] for obj in LIVE]) == []
    assert json.dumps([live.state.tables, live.state.env, sorted(live.state.imports)], sort_keys=True) == live_before
    # the drill backend received the data and the variables
    assert sorted(drill_backend.state.tables) == ["messages", "users"] and sorted(drill_backend.state.env) == sorted(ENV)
    record_path = tmp_path / "state" / "restore-drill.json"
    record = json.loads(record_path.read_text())
    assert stat.S_IMODE(os.stat(record_path).st_mode) == 0o600
    assert record["ok"] is True and record["documents"] == 8 and record["rto_seconds"] > 0
    for secret in (DRILL_SECRET, ENV["RESEND_API_KEY"]):
        assert secret not in run.output
    print("measured RTO on the test rig: %ss" % record["rto_seconds"])


def test_a_set_with_edited_manifest_counts_fails_clearly_and_the_drill_backend_is_still_removed(
        project, live_cluster, tmp_path):
    manifest_path = next((tmp_path / "state" / "backups").glob("*.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["users"] = 5
    manifest_path.write_text(json.dumps(manifest))
    before = versions(live_cluster)
    run = project.playbook(str(DRILL))
    assert run.rc != 0
    assert "restore drill of" in run.output and "FAILED" in run.output and "differ from the manifest" in run.output
    assert all(gone(live_cluster.get(path(*obj))) for obj in DRILL_OBJECTS)
    assert versions(live_cluster) == before
    assert json.loads((tmp_path / "state" / "restore-drill.json").read_text())["ok"] is False


def test_bad_input_fails_before_any_change(project, live_cluster, tmp_path):
    for name in os.listdir(tmp_path / "state" / "backups"):
        if name.endswith(".manifest.json"):
            os.unlink(tmp_path / "state" / "backups" / name)
    live_cluster.reset_audit()
    empty = project.playbook(str(DRILL))
    assert empty.rc != 0 and "No backup set" in empty.output, empty.output
    same = project.playbook(str(DRILL), convex_restore_drill_instance_name="joelclaw")
    assert same.rc != 0 and "must differ from the live" in same.output, same.output
    assert [e for e in live_cluster.audit_events() if e["verb"] in ("create", "update", "patch", "delete")] == []
    assert not (tmp_path / "state" / "restore-drill.json").exists()
