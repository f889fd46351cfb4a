# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apply path (convex_k8s_apply: true) against STAND-INS, since no kube-apiserver runs here.

* FakeKubeApiServer below is a TEST STAND-IN for the Kubernetes API: discovery, GET, DELETE and
  server-side apply (PATCH application/apply-patch+yaml) for the kinds the roles use, and workload
  status reported ready at once. It is not Kubernetes: no admission, no defaulting, no field
  ownership, no real merge. It proves the roles drive kubernetes.core the intended way
  (server-side apply with our field manager, Secret read back, rollout wait reached), not that a
  real cluster accepts the objects; the strict schema tests cover the objects themselves.
* tests/standins/convex/convex_standin.py is the Convex TEST STAND-IN (upstream HTTP contract),
  so the admin key is verified live and the bridge variables are really set.
"""
from __future__ import annotations

import base64
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from test_convex_backend import GROUP_VARS, OTHER_SHA, PLAY, ROOT, SECRET, ansible_playbook, variables

CORE = [("namespaces", "Namespace", False), ("secrets", "Secret", True), ("services", "Service", True),
        ("pods", "Pod", True), ("pods/log", "Pod", True), ("persistentvolumeclaims", "PersistentVolumeClaim", True)]
APPS = [("statefulsets", "StatefulSet", True), ("deployments", "Deployment", True)]


def resource_list(group_version, resources):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
        {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
        for plural, kind, namespaced in resources]}


class FakeKubeApiServer(ThreadingHTTPServer):
    """TEST STAND-IN for the few Kubernetes API calls kubernetes.core makes for these roles."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeKubeHandler)
        self.objects = {}      # (plural, namespace, name) -> object
        self.requests = []     # (method, path, query, content_type, body)
        self.applied_at = []   # (time, path, body) of every server-side apply
        self.lock = threading.Lock()
        self.version = 0
        self.backend_log = "INFO db metadata version up to date at 119\nINFO Migration complete\n"

    def next_version(self):
        self.version += 1
        return str(self.version)


def not_found(name):
    return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                 "message": "%s not found" % name, "code": 404}


# kube-apiserver refuses a StatefulSet update that changes any other spec field:
# kubernetes/kubernetes pkg/apis/apps/validation/validation.go ValidateStatefulSetUpdate (read through code
# search; the field list as Kubernetes 1.34/1.35 print it, with revisionHistoryLimit). The Status shape is a
# field.Forbidden turned into an Invalid error (apimachinery errors.NewInvalid: reason Invalid, code 422).
STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                       "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def immutable_spec(obj):
    return {k: v for k, v in obj.get("spec", {}).items() if k not in STATEFULSET_MUTABLE}


def statefulset_forbidden(name):
    detail = ("Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
              "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
              "'minReadySeconds' are forbidden")
    return 422, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": 'StatefulSet.apps "%s" is invalid: spec: %s' % (name, detail), "reason": "Invalid",
                 "details": {"name": name, "group": "apps", "kind": "StatefulSet",
                             "causes": [{"reason": "FieldValueForbidden", "message": detail, "field": "spec"}]},
                 "code": 422}


def ready(obj):
    """Report workloads as rolled out, the way the waiter of kubernetes.core reads it."""
    spec = obj.get("spec", {})
    generation = obj["metadata"]["generation"]
    if obj["kind"] == "StatefulSet":
        n = spec.get("replicas", 1)
        obj["status"] = {"observedGeneration": generation, "replicas": n, "readyReplicas": n, "updatedReplicas": n,
                         "currentRevision": "rev-%d" % generation, "updateRevision": "rev-%d" % generation}
    elif obj["kind"] == "Deployment":
        n = spec.get("replicas", 1)
        obj["status"] = {"observedGeneration": generation, "replicas": n, "availableReplicas": n,
                         "readyReplicas": n, "updatedReplicas": n}


class FakeKubeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        parts = urlsplit(self.path)
        segs = [s for s in parts.path.split("/") if s]
        if segs[:2] == ["api", "v1"]:
            rest = segs[2:]
        elif segs[:3] == ["apis", "apps", "v1"]:
            rest = segs[3:]
        else:
            return None
        if rest[:1] == ["namespaces"] and len(rest) == 2:
            return ("namespaces", None, rest[1])
        if rest[:1] == ["namespaces"] and len(rest) == 4:
            return (rest[2], rest[1], rest[3])
        if rest[:1] == ["namespaces"] and len(rest) == 3:
            return ("list", rest[1], rest[2])
        if rest[:1] == ["namespaces"] and len(rest) == 5 and rest[2] == "pods" and rest[4] == "log":
            return ("log", rest[1], rest[3])
        return None

    def workload_pod(self, namespace):
        """The pod a ready StatefulSet would have, for list and log requests."""
        sts = self.server.objects.get(("statefulsets", namespace, "convex"))
        if not sts:
            return []
        container = sts["spec"]["template"]["spec"]["containers"][0]
        return [{"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "convex-0", "namespace": namespace,
                              "labels": sts["spec"]["template"]["metadata"]["labels"]},
                 "spec": {"containers": [{"name": container["name"], "image": container["image"]}]},
                 "status": {"phase": "Running", "containerStatuses": [
                     {"name": container["name"], "ready": True, "restartCount": 0, "image": container["image"],
                      "imageID": "", "started": True}]}}]

    def do_GET(self):
        server = self.server
        path = urlsplit(self.path).path
        with server.lock:
            server.requests.append(("GET", path, urlsplit(self.path).query, None, None))
        static = {
            "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.0"},
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
            "/api/v1": resource_list("v1", CORE),
            "/apis/apps/v1": resource_list("apps/v1", APPS),
        }
        if path in static:
            return self.reply(200, static[path])
        key = self.route()
        with server.lock:
            if key and key[0] == "log":
                data = server.backend_log.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if key and key[0] == "list" and key[2] == "pods":
                return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                        "items": self.workload_pod(key[1])})
            if key and key[0] == "persistentvolumeclaims" and key[2] == "data-convex-0" and self.workload_pod(key[1]):
                return self.reply(200, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                        "metadata": {"name": key[2], "namespace": key[1]},
                                        "spec": {"accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Bound"}})
            if key and key in server.objects:
                return self.reply(200, server.objects[key])
        return self.reply(*not_found(path))

    def do_DELETE(self):
        key = self.route()
        with self.server.lock:
            self.server.requests.append(("DELETE", urlsplit(self.path).path, "", None, None))
            if key and key in self.server.objects:
                del self.server.objects[key]
                return self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        return self.reply(*not_found(self.path))

    def do_PATCH(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        content_type = self.headers.get("Content-Type", "")
        query = urlsplit(self.path).query
        server = self.server
        with server.lock:
            server.requests.append(("PATCH", urlsplit(self.path).path, query, content_type, raw))
            server.applied_at.append((time.time(), urlsplit(self.path).path, raw))
            if content_type != "application/apply-patch+yaml":
                return self.reply(415, {"kind": "Status", "code": 415, "message": "only server-side apply here"})
            body = yaml.safe_load(raw)
            key = self.route()
            old = server.objects.get(key)
            if key[1] is not None and ("namespaces", None, key[1]) not in server.objects:
                # The NamespaceLifecycle admission plugin refuses objects in a namespace that does not exist
                # (kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go,
                # a NotFound for the namespace). Written from what that plugin is documented to do; the exact
                # Status wording is guessed.
                return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": 'namespaces "%s" not found' % key[1], "reason": "NotFound",
                                        "details": {"name": key[1], "kind": "namespaces"}, "code": 404})
            if old is not None and key[0] == "statefulsets" and immutable_spec(body) != immutable_spec(old):
                return self.reply(*statefulset_forbidden(key[2]))
            new = copy.deepcopy(body)
            meta = new.setdefault("metadata", {})
            if old is not None:
                for field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                    meta[field] = old["metadata"][field]
                applied_old = {k: v for k, v in old.items() if k != "status"}
                applied_old["metadata"] = {k: v for k, v in old["metadata"].items()
                                           if k not in ("uid", "creationTimestamp", "generation", "resourceVersion")}
                if applied_old != body:
                    meta["resourceVersion"] = server.next_version()
                    if body.get("spec") != old.get("spec"):
                        meta["generation"] = old["metadata"]["generation"] + 1
            else:
                meta.update(uid="uid-%s" % server.next_version(), creationTimestamp="2026-01-01T00:00:00Z",
                            generation=1, resourceVersion=server.next_version())
            ready(new)
            server.objects[key] = new
            return self.reply(200 if old is not None else 201, new)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def kube(tmp_path):
    server = FakeKubeApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": "http://127.0.0.1:%d" % server.server_address[1]}}],
        "users": [{"name": "fake", "user": {}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))
    kubeconfig.chmod(0o600)
    yield server, kubeconfig
    server.shutdown()
    server.server_close()


sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import docker_images  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    """A fake `docker` (tests/unit/fakebin/docker_images.py) on PATH for the image check of apply mode:
    the images of both shas the tests use exist for linux/amd64 and linux/arm64."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    docker_images.install(fakebin)
    colima_home = tmp_path / "colima"
    colima_home.mkdir(exist_ok=True)  # colima v0.10.3 config/files.go: $COLIMA_HOME only when it exists
    state = tmp_path / "registry.json"
    images = {"ghcr.io/get-convex/convex-%s:%s" % (part, sha): ["linux/amd64", "linux/arm64"]
              for part in ("backend", "dashboard") for sha in (GROUP_VARS["convex_image_sha"], OTHER_SHA)}
    state.write_text(json.dumps({"images": images, "daemon_host": "unix://%s/default/docker.sock" % colima_home}))
    monkeypatch.setenv("FAKE_DOCKER_IMAGES", str(state))
    monkeypatch.setenv("COLIMA_HOME", str(colima_home))
    monkeypatch.setenv("PATH", str(fakebin) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return state


@pytest.fixture
def convex(tmp_path):
    port, dashboard_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "standins" / "convex" / "convex_standin.py"),
                             "--port", str(port), "--dashboard-port", str(dashboard_port),
                             "--instance-name", "joelclaw", "--instance-secret", SECRET],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    for _attempt in range(100):
        try:
            urllib.request.urlopen(url + "/version", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    yield url, dashboard_port
    proc.terminate()
    proc.wait(timeout=10)


def apply_vars(tmp_path, kubeconfig, convex, **overrides):
    url, dashboard_port = convex
    ports = copy.deepcopy(GROUP_VARS["convex_published_ports"])
    ports["dashboard"]["host_port"] = dashboard_port
    return variables(tmp_path, convex_k8s_apply=True, convex_kubeconfig=str(kubeconfig), convex_backend_admin_url=url,
                     convex_published_ports=ports,
                     convex_backend_inngest_url="http://inngest-svc.joelclaw.svc.cluster.local:8288", **overrides)


def test_apply_mode_uses_server_side_apply_waits_verifies_and_reads_the_secret_back(tmp_path, kube, convex):
    server, kubeconfig = kube
    first = ansible_playbook(tmp_path / "run1", PLAY,
                             apply_vars(tmp_path, kubeconfig, convex, convex_backend_instance_secret=SECRET), verbosity=2)
    assert first.rc == 0, first.output
    assert SECRET not in first.output

    objects = server.objects
    assert ("namespaces", None, "joelclaw") in objects
    secret = objects[("secrets", "joelclaw", "convex-secrets")]
    assert base64.b64decode(secret["data"]["instance-secret"]).decode() == SECRET
    sts = objects[("statefulsets", "joelclaw", "convex")]
    assert sts["spec"]["serviceName"] == "convex-svc"
    assert ("services", "joelclaw", "convex-svc") in objects
    assert ("deployments", "joelclaw", "convex-dashboard") in objects
    assert ("services", "joelclaw", "convex-dashboard-svc") in objects

    # Every write was a server-side apply with our field manager; nothing carries last-applied data.
    writes = [r for r in server.requests if r[0] == "PATCH"]
    # Namespace (by each role: either may run alone), Secret, Service, StatefulSet, Service, Deployment.
    assert len(writes) == 7
    assert [r[1] for r in writes].count("/api/v1/namespaces/joelclaw") == 2
    for _method, _path, query, content_type, body in writes:
        assert content_type == "application/apply-patch+yaml"
        assert parse_qs(query)["fieldManager"] == ["joelclaw-macmini"]
        assert "last-applied-configuration" not in body
    # The Secret is read back before any write; the pre-fill Secret is looked for (absent: nothing to delete).
    first_patch = next(i for i, r in enumerate(server.requests) if r[0] == "PATCH")
    assert any(r[0] == "GET" and r[1].endswith("/secrets/convex-secrets") for r in server.requests[:first_patch])
    assert any(r[0] == "GET" and r[1].endswith("/secrets/convex-dashboard-admin-key") for r in server.requests)

    # Admin key verified live against the Convex stand-in and written for the CLI.
    env_file = tmp_path / "state" / "convex-admin.env"
    assert "CONVEX_SELF_HOSTED_ADMIN_KEY=" in env_file.read_text()
    # The bridge variable is a Convex deployment variable now.
    key = [line.split("=", 1)[1].strip("'\"") for line in env_file.read_text().splitlines()
           if line.startswith("CONVEX_SELF_HOSTED_ADMIN_KEY=")][0]
    request = urllib.request.Request(convex[0] + "/api/list_environment_variables", headers={"Authorization": "Convex " + key})
    listed = json.loads(urllib.request.urlopen(request, timeout=5).read())["environmentVariables"]
    assert listed["INNGEST_URL"] == "http://inngest-svc.joelclaw.svc.cluster.local:8288"

    # Idempotent in apply mode too, and the secret is read back from the cluster without the vault
    # value and without the state file.
    (tmp_path / "state" / "convex-instance-secret").unlink()
    second = ansible_playbook(tmp_path / "run2", PLAY, apply_vars(tmp_path, kubeconfig, convex))
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 1, second.stdout  # only the state file, restored from the cluster
    assert (tmp_path / "state" / "convex-instance-secret").read_text().strip() == SECRET
    third = ansible_playbook(tmp_path / "run3", PLAY, apply_vars(tmp_path, kubeconfig, convex))
    assert third.rc == 0 and third.recap()["changed"] == 0, third.stdout


def test_apply_mode_refuses_a_vaulted_secret_that_differs_from_the_cluster(tmp_path, kube, convex):
    server, kubeconfig = kube
    other = "d1" * 32
    metadata = {"name": "convex-secrets", "namespace": "joelclaw", "generation": 1, "resourceVersion": "1",
                "uid": "x", "creationTimestamp": "2026-01-01T00:00:00Z"}
    server.objects[("secrets", "joelclaw", "convex-secrets")] = {
        "apiVersion": "v1", "kind": "Secret", "metadata": metadata,
        "data": {"instance-secret": base64.b64encode(other.encode()).decode()}}
    extra = apply_vars(tmp_path, kubeconfig, convex, convex_backend_instance_secret=SECRET)
    run = ansible_playbook(tmp_path / "run", PLAY, extra)
    assert run.rc != 0
    assert "differs from the one in existing" in run.output
    assert not [r for r in server.requests if r[0] in ("PATCH", "DELETE")], "something was written"


def test_upgrade_exports_first_rolls_both_waits_for_migrations_and_gates(tmp_path, kube, convex):
    server, kubeconfig = kube
    converge = ansible_playbook(tmp_path / "run1", PLAY, apply_vars(tmp_path, kubeconfig, convex,
                                                                    convex_backend_instance_secret=SECRET))
    assert converge.rc == 0, converge.output
    server.backend_log = ("WARN Executing Migration 119/119. Wait for log line 'Migrated 119'\n"
                          "INFO Migrated 119\nINFO Migration complete\n")

    extra = apply_vars(tmp_path, kubeconfig, convex, convex_upgrade_sha=OTHER_SHA, convex_upgrade_hosts="localhost",
                       convex_backup_dir=str(tmp_path / "state" / "backups"))
    del extra["convex_image_sha"]  # extra vars beat play vars; the playbook sets it from convex_upgrade_sha
    upgrade = ansible_playbook(tmp_path / "run2", (ROOT / "playbooks" / "upgrade.yml").read_text(), extra)
    assert upgrade.rc == 0, upgrade.output

    backups = tmp_path / "state" / "backups"
    exports = sorted(backups.glob("pre-upgrade-*.zip"))
    records = sorted(backups.glob("upgrade-*-to-*.yml"))
    assert len(exports) == 1 and len(records) == 1
    record = yaml.safe_load(records[0].read_text())
    assert record["previous_sha"] == GROUP_VARS["convex_image_sha"] and record["new_sha"] == OTHER_SHA
    assert record["export"] == str(exports[0])
    images = [server.objects[("statefulsets", "joelclaw", "convex")]["spec"]["template"]["spec"]["containers"][0]["image"],
              server.objects[("deployments", "joelclaw", "convex-dashboard")]["spec"]["template"]["spec"]["containers"][0]["image"]]
    assert all(image.endswith(":" + OTHER_SHA) for image in images)
    # The export was complete before the new image was applied.
    new_image_applied = min(t for t, path, body in server.applied_at if OTHER_SHA in body)
    assert exports[0].stat().st_mtime <= new_image_applied
    sts_patches = [r for r in server.requests if r[0] == "PATCH" and r[1].endswith("/statefulsets/convex")]
    assert OTHER_SHA in sts_patches[-1][4] and GROUP_VARS["convex_image_sha"] in sts_patches[0][4]
    assert any(r[1].endswith("/pods/convex-0/log") for r in server.requests)

    # The upgrade sticks: the version record lists both shas in order, and a later converge whose
    # inventory still pins the old sha is refused as a downgrade before it writes anything.
    before = len(server.requests)
    again = ansible_playbook(tmp_path / "run3", PLAY, apply_vars(tmp_path, kubeconfig, convex))
    assert again.rc != 0, "a converge with the old sha ran: %s" % again.stdout[-2000:]
    assert "That is a downgrade" in again.output
    assert not [r for r in server.requests[before:] if r[0] in ("PATCH", "DELETE")]
    record = yaml.safe_load((tmp_path / "state" / "convex-version.yml").read_text())
    assert [entry["sha"] for entry in record["history"]] == [GROUP_VARS["convex_image_sha"], OTHER_SHA]


def test_a_timed_out_migration_gate_shows_the_status_never_the_pod_log(tmp_path, kube, convex):
    """The backend's log can hold anything its code prints (issue: a timed-out `until` printed the whole
    k8s_log result). The gate must report only the filtered migration status."""
    server, kubeconfig = kube
    converge = ansible_playbook(tmp_path / "run1", PLAY, apply_vars(tmp_path, kubeconfig, convex,
                                                                    convex_backend_instance_secret=SECRET))
    assert converge.rc == 0, converge.output
    leak = "INFO startup argv: --instance-secret " + SECRET
    server.backend_log = ("WARN Executing Migration 119/119. Wait for log line 'Migrated 119'\n" + leak + "\n")

    extra = apply_vars(tmp_path, kubeconfig, convex, convex_upgrade_sha=OTHER_SHA, convex_upgrade_hosts="localhost",
                       convex_backup_dir=str(tmp_path / "state" / "backups"), convex_upgrade_migration_timeout=10)
    del extra["convex_image_sha"]
    upgrade = ansible_playbook(tmp_path / "run2", (ROOT / "playbooks" / "upgrade.yml").read_text(), extra,
                               verbosity=3)
    assert upgrade.rc != 0, upgrade.output[-3000:]
    assert SECRET not in upgrade.output
    assert "startup argv" not in upgrade.output
    assert "Migrated 119" in upgrade.output and "did not finish" in upgrade.output, upgrade.output[-3000:]
