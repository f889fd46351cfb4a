# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backend and convex_dashboard converge on a cluster that is not colima_talos's Talos.

The API server is the real one of tests/roles/k8s_harness.py (kube-apiserver v1.35 + etcd). What
makes it "another cluster" is what the roles are given, as a user who outgrew the Mac sets it in
the inventory (README.md, "Another cluster (k3s, a managed cluster)"):

* a kubeconfig of the user's own, with two contexts under their own users (client certificates
  signed by the cluster CA): ``lab``, its current-context, which must NOT be used, and
  ``convex-k3s``, named by ``convex_kube_context``. The audit log tells the two users apart;
* a StorageClass ``standard`` that existed before (not the default one; another class,
  ``cluster-default``, is) and ``convex_backend_storage_class: standard``; no local-path class,
  provisioner or namespace may appear (those are colima_talos's);
* no ``colima`` and no ``talosctl`` on PATH; the image check (``manifest``, which asks the registry
  from the Docker CLI: tests/unit/fakebin/docker_images.py cites docker/cli) for ``linux/amd64``;
* the NodePorts reached where the cluster's node publishes them: ``convex_host_bind_address`` and
  ``host_port`` point at the Convex TEST STAND-IN (tests/standins/convex/convex_standin.py), which
  answers the admin key check and the deployment variables as the backend behind the NodePort would.

One control plane (the session's), one module fixture, four runs: the converge, the second
converge (changed=0), playbooks/health.yml (its cluster probes read through the named context), and a
context the kubeconfig does not name (refused before any API call).
"""
from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from k8s_harness import client_certificate, control_plane, free_port  # noqa: F401  pylint: disable=unused-import
from playbook_runner import convex_standin_process
from test_k8s_apply import NAMESPACE, SECRET, Project

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import docker_images  # noqa: E402  pylint: disable=wrong-import-position

GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
CONTEXT = "convex-k3s"
DECOY_CONTEXT = "lab"
USER = "convex-operator"
DECOY_USER = "lab-admin"
STORAGE = "/apis/storage.k8s.io/v1/storageclasses"
WRITES = ("create", "update", "patch", "delete", "deletecollection")


def write_kubeconfig(cp, path: Path):
    """Two contexts on the same API server under two users; the current-context is the decoy."""
    pki = cp.workdir / "pki"
    users = []
    for name in (USER, DECOY_USER):
        cert, key = client_certificate(pki, name, "system:masters")
        users.append({"name": name, "user": {"client-certificate-data": base64.b64encode(cert).decode(),
                                             "client-key-data": base64.b64encode(key).decode()}})
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "k3s", "cluster": {"server": cp.url, "certificate-authority-data": ca}}],
        "users": users,
        "contexts": [{"name": DECOY_CONTEXT, "context": {"cluster": "k3s", "user": DECOY_USER}},
                     {"name": CONTEXT, "context": {"cluster": "k3s", "user": USER, "namespace": "default"}}],
        "current-context": DECOY_CONTEXT}, sort_keys=False))
    path.chmod(0o600)


def audit(cp, since):
    """Audit events (ResponseComplete) written after byte offset `since`, by any user."""
    with open(cp.audit_log, "rb") as log:
        log.seek(since)
        return [json.loads(line) for line in log if line.endswith(b"\n")
                and json.loads(line).get("stage") == "ResponseComplete"]


def bare_path(fakebin: Path):
    """PATH with the fake docker, the venv and the system directories: no colima, no talosctl."""
    path = os.pathsep.join([str(fakebin), str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    for tool in ("colima", "talosctl"):
        assert shutil.which(tool, path=path) is None, "%s is on the test's PATH" % tool
    return path


@pytest.fixture(scope="module")
def converged(control_plane, tmp_path_factory):  # noqa: F811  pylint: disable=redefined-outer-name
    cp = control_plane
    cp.reset()
    base = tmp_path_factory.mktemp("anycluster")
    kubeconfig = base / "kubeconfig.yaml"
    write_kubeconfig(cp, kubeconfig)
    classes = [{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "standard"}, "provisioner": "example.com/standard"},
               {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "cluster-default",
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "example.com/default"}]
    for storage_class in classes:
        cp.request("POST", STORAGE, storage_class)
    fakebin = base / "fakebin"
    fakebin.mkdir()
    docker_images.install(fakebin)
    registry = base / "registry.json"
    images = [GROUP_VARS["convex_backend_image"], GROUP_VARS["convex_dashboard_image"]]
    registry.write_text(json.dumps({"images": {
        ref.replace("{{ convex_image_sha }}", GROUP_VARS["convex_image_sha"]): ["linux/amd64"] for ref in images}}))
    runs = {}
    try:
        with convex_standin_process(SECRET, GROUP_VARS["convex_instance_name"]) as (url, _dashboard_port), \
                pytest.MonkeyPatch.context() as env:
            port = int(url.rsplit(":", 1)[1])
            env.setenv("PATH", bare_path(fakebin))
            env.setenv("FAKE_DOCKER_IMAGES", str(registry))
            ports = copy.deepcopy(GROUP_VARS["convex_published_ports"])
            ports["api"]["host_port"] = port  # where "the node" publishes the API NodePort: the stand-in
            project = Project(base / "project", {
                "convex_state_dir": str(base / "state"),
                "convex_k8s_apply": True,
                "convex_kubeconfig": str(kubeconfig),
                "convex_kube_context": CONTEXT,
                "convex_backend_storage_class": "standard",
                "convex_host_bind_address": "127.0.0.1",
                "convex_published_ports": ports,
                "convex_backend_instance_secret": SECRET,
                "convex_backend_inngest_url": "http://inngest-svc.joelclaw.svc.cluster.local:8288",
                "convex_backend_image_check": "manifest",
                "convex_backend_image_platform": "linux/amd64",
            })
            mark = cp.audit_log.stat().st_size
            runs["first"] = project.run()
            cp.settle()
            runs["first_audit"] = audit(cp, mark)
            runs["pvc"] = cp.get("/api/v1/namespaces/%s/persistentvolumeclaims/data-%s-0"
                                 % (NAMESPACE, GROUP_VARS["convex_backend_statefulset_name"]))
            runs["services"] = {s["metadata"]["name"]: s for s in cp.request(
                "GET", "/api/v1/namespaces/%s/services" % NAMESPACE)["items"]}
            runs["classes"] = sorted(c["metadata"]["name"] for c in cp.request("GET", STORAGE)["items"])
            runs["local_path_namespace"] = cp.get("/api/v1/namespaces/local-path-storage")
            runs["docker_calls"] = json.loads(registry.read_text()).get("calls", [])
            runs["second"] = project.run()
            # playbooks/health.yml as the user runs it (its hosts: macmini), report only.
            (project.base / "inventory" / "macmini.yml").write_text(yaml.safe_dump(
                {"all": {"children": {"macmini": {"hosts": {"localhost": None}}}}}))
            mark = cp.audit_log.stat().st_size
            runs["health"] = project.run_playbook(str(ROOT / "playbooks" / "health.yml"), "-i", "inventory/macmini.yml",
                                                  "-e", "convex_health_fail_on=never")
            runs["health_audit"] = audit(cp, mark)
            mark = cp.audit_log.stat().st_size
            project.host_vars["convex_kube_context"] = "convex-k3s-typo"
            project.write_host_vars()
            runs["typo"] = project.run()
            runs["typo_audit"] = audit(cp, mark)
        yield runs
    finally:
        for storage_class in classes:
            cp.request("DELETE", STORAGE + "/" + storage_class["metadata"]["name"])
        cp.reset()


def test_the_roles_converge_through_the_named_context_and_never_the_current_one(converged):
    first = converged["first"]
    assert first.rc == 0, first.output
    users = {e["user"]["username"] for e in converged["first_audit"]}
    assert DECOY_USER not in users, "the kubeconfig's current-context was used"
    writes = [e for e in converged["first_audit"] if e["verb"] in WRITES and e["user"]["username"] == USER
              and e.get("objectRef", {}).get("namespace") == NAMESPACE]
    written = {(e["objectRef"]["resource"], e["objectRef"].get("name")) for e in writes}
    for obj in [("secrets", "convex-secrets"), ("services", "convex-svc"), ("statefulsets", "convex"),
                ("services", "convex-dashboard-svc"), ("deployments", "convex-dashboard")]:
        assert obj in written, (obj, sorted(written))


def test_the_volume_uses_the_named_existing_class_and_nothing_of_colima_talos_appears(converged):
    assert converged["first"].rc == 0, converged["first"].output
    assert converged["pvc"]["spec"]["storageClassName"] == "standard"
    assert converged["classes"] == ["cluster-default", "standard"]
    assert converged["local_path_namespace"] is None
    # Every write of the roles landed in convex_namespace (or was that namespace): no StorageClass, no
    # provisioner, no cluster-wide object.
    writes = {(e["objectRef"]["resource"], e["objectRef"].get("namespace"), e["objectRef"].get("name"))
              for e in converged["first_audit"] if e["verb"] in WRITES and e["user"]["username"] == USER}
    outside = {w for w in writes if w[1] != NAMESPACE and w[:3:2] != ("namespaces", NAMESPACE)}
    assert writes and not outside, sorted(outside)


def test_the_nodeports_and_the_image_check_need_no_colima(converged):
    assert converged["first"].rc == 0, converged["first"].output
    ports = {p["name"]: p["nodePort"] for svc in converged["services"].values() for p in svc["spec"]["ports"]}
    assert converged["services"]["convex-svc"]["spec"]["type"] == "NodePort"
    assert ports == {"api": 30010, "site": 30011, "http": 30012}
    inspected = [c["argv"] for c in converged["docker_calls"]]
    assert inspected == [["manifest", "inspect", GROUP_VARS["convex_backend_image"].replace(
        "{{ convex_image_sha }}", GROUP_VARS["convex_image_sha"])], ["manifest", "inspect", GROUP_VARS[
            "convex_dashboard_image"].replace("{{ convex_image_sha }}", GROUP_VARS["convex_image_sha"])]]


def test_a_second_converge_changes_nothing(converged):
    second = converged["second"]
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 0, second.stdout


def test_the_health_playbook_reads_the_cluster_through_the_named_context(converged):
    # convex_health's cluster probes follow convex_kube_context too, never the current-context.
    health = converged["health"]
    assert health.rc == 0, health.output
    reads = [e for e in converged["health_audit"] if e["user"]["username"] in (USER, DECOY_USER)]
    assert {e["user"]["username"] for e in reads} == {USER}, [(e["user"]["username"], e["requestURI"]) for e in reads]
    assert any(e["verb"] == "get" and "/statefulsets/%s" % GROUP_VARS["convex_backend_statefulset_name"]
               in e["requestURI"] for e in reads), [e["requestURI"] for e in reads]


def test_a_context_the_kubeconfig_does_not_name_is_refused_before_any_api_call(converged):
    typo = converged["typo"]
    assert typo.rc != 0, typo.output
    flat = " ".join(typo.output.split())
    assert "convex_kube_context is 'convex-k3s-typo'" in flat, typo.output
    assert "names only the contexts %s, %s" % (DECOY_CONTEXT, CONTEXT) in flat, typo.output
    assert [e["requestURI"] for e in converged["typo_audit"] if e["user"]["username"] in (USER, DECOY_USER)] == []
    assert "client-key-data" not in typo.output
