# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import datetime
import os
import socket
import ssl
import threading
import time
from types import SimpleNamespace as NS

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import convex_standin as lib

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_health as health
from ansible_collections.joelclaw.macmini.plugins.modules import convex_health


# How long a hung stand-in answer lasts: far beyond every timeout the tests set (the stand-in's
# handler threads are daemons, so a hang left running costs nothing at teardown).
HANG = 30


def base_args(standin, **extra):
    args = {"url": standin.url, "instance_name": "joelclaw", "admin_key": standin.admin_key(),
            "site_url": standin.site_url, "dashboard_url": standin.dashboard_url, "timeout": 2}
    args.update(extra)
    return args


def by_name(result):
    return {p["name"]: p for p in result["probes"]}


def free_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % sock.getsockname()[1]


def test_healthy_stack_is_ok(run_module, convex_standin, tmp_path):
    (tmp_path / "snapshot_joelclaw_1.zip").write_bytes(b"zip")
    (tmp_path / "snapshot_joelclaw_1.manifest.json").write_text("{}")
    result = run_module(convex_health, base_args(convex_standin, backup_dir=str(tmp_path)))
    assert result["verdict"] == "ok" and result["changed"] is False and "failed" not in result, result["report"]
    assert [p["name"] for p in result["probes"]] == [
        "backend_version", "instance_name", "admin_key", "http_actions", "dashboard", "backup_age"]
    probes = by_name(result)
    assert probes["backend_version"]["value"] == "unknown" and probes["instance_name"]["value"] == "joelclaw"
    assert probes["http_actions"]["value"] == "HTTP 404" and probes["dashboard"]["value"] == "HTTP 200"
    assert result["counts"] == {"ok": 6, "warn": 0, "fail": 0}
    assert result["report"][0].startswith("OK    backend_version")


def test_rotated_secret_fails_only_the_key_probe(run_module, convex_standin):
    result = run_module(convex_health, base_args(convex_standin, admin_key=lib.make_admin_key("joelclaw", "03" * 32)))
    probes = by_name(result)
    assert result["failed"] is True and result["verdict"] == "fail"
    assert probes["admin_key"]["status"] == "fail" and "INSTANCE_SECRET rotated" in probes["admin_key"]["hint"]
    assert probes["backend_version"]["status"] == "ok" and "admin_key" in result["msg"]


def test_other_instance_is_caught(run_module, convex_standin):
    result = run_module(convex_health, base_args(convex_standin, instance_name="prod"))
    probe = by_name(result)["instance_name"]
    assert probe["status"] == "fail" and probe["value"] == "joelclaw" and "'prod'" in probe["hint"]


def test_fail_on_never_reports_without_failing(run_module, convex_standin):
    result = run_module(convex_health, base_args(convex_standin, instance_name="prod", fail_on="never"))
    assert "failed" not in result and result["verdict"] == "fail"


def test_fail_on_warn_fails_on_an_aging_backup(run_module, convex_standin, tmp_path):
    backup = tmp_path / "old.zip"
    backup.write_bytes(b"zip")
    (tmp_path / "old.manifest.json").write_text("{}")
    old = time.time() - 30 * 3600
    os.utime(backup, (old, old))
    args = base_args(convex_standin, backup_dir=str(tmp_path))
    relaxed = run_module(convex_health, args)
    assert "failed" not in relaxed and relaxed["verdict"] == "warn"
    assert by_name(relaxed)["backup_age"]["value"].startswith("30.0h")
    strict = run_module(convex_health, dict(args, fail_on="warn"))
    assert strict["failed"] is True and "backup_age" in strict["msg"]
    failing = run_module(convex_health, dict(args, thresholds={"backup_age_fail_hours": 29}))
    assert by_name(failing)["backup_age"]["status"] == "fail"


def test_probes_run_concurrently_and_a_hang_costs_only_its_timeout(monkeypatch, run_module, convex_standin):
    # Concurrency by events, not by the wall clock (a loaded machine stretches any bound): each of the
    # three backend probes waits at a barrier until all three are running, then probes for real. Run
    # one after another (with or without a cut-off at their 30 s timeout), the first one waits alone
    # and the barrier breaks after 10 s: "probe crashed: BrokenBarrierError".
    all_in = threading.Barrier(3)

    def together(probe):
        def wrapper(*args, **kwargs):
            all_in.wait(timeout=10)
            return probe(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as patched:
        for name in ("probe_version", "probe_instance_name", "probe_admin_key"):
            patched.setattr(health, name, together(getattr(health, name)))
        result = run_module(convex_health, base_args(convex_standin, timeout=HANG))
    assert not all_in.broken
    assert [by_name(result)[name]["status"] for name in ("backend_version", "instance_name", "admin_key")] \
        == ["ok"] * 3, result["report"]

    # Three probes hang far beyond their 1 s timeout: each fails with its timeout, the others are fine.
    # A run that waited for any hung answer would take HANG (30) s at least; the bound is half of it,
    # which load does not reach (three 1 s timeouts, in sequence even, are 3 s).
    convex_standin.state.hang.update({"/version": HANG, "/instance_name": HANG, "/api/check_admin_key": HANG})
    started = time.monotonic()
    result = run_module(convex_health, base_args(convex_standin, timeout=1.0))
    took = time.monotonic() - started
    probes = by_name(result)
    for name in ("backend_version", "instance_name", "admin_key"):
        assert probes[name]["status"] == "fail" and ("after 1s" in probes[name]["hint"])
    assert probes["dashboard"]["status"] == "ok" and probes["http_actions"]["status"] == "ok"
    assert took < HANG / 2


def test_a_probe_stuck_beyond_its_socket_timeout_is_cut_off(monkeypatch, run_module, convex_standin):
    # The stuck probe blocks until the test releases it: when the module returns with the probe's
    # timeout as its hint while the probe is still blocked, the runner cut it off (no wall clock).
    release, finished = threading.Event(), threading.Event()

    def stuck(*_args, **_kwargs):
        release.wait(timeout=HANG)
        finished.set()
        return []
    monkeypatch.setattr(health, "probe_dashboard", stuck)
    try:
        result = run_module(convex_health, base_args(convex_standin, timeouts={"dashboard": 0.3}))
        assert not finished.is_set(), "the module waited for the stuck probe"
        assert by_name(result)["dashboard"]["hint"] == "timed out after 0.3s"
    finally:
        release.set()


def test_backend_down(run_module, convex_standin):
    result = run_module(convex_health, base_args(convex_standin, url=free_url()))
    probes = by_name(result)
    assert probes["backend_version"]["status"] == "fail" and "connection refused" in probes["backend_version"]["hint"]
    assert probes["dashboard"]["status"] == "ok"


def test_proxy_errors_on_site_and_dashboard(run_module, convex_standin):
    convex_standin.state.status_override.update({"/": 502})
    result = run_module(convex_health, base_args(convex_standin, site_path="/"))
    probes = by_name(result)
    assert probes["http_actions"]["status"] == "fail" and probes["http_actions"]["value"] == "HTTP 502"
    assert probes["dashboard"]["status"] == "fail"


def test_malformed_key_check_answer(run_module, convex_standin):
    convex_standin.state.malformed.add("/api/check_admin_key")
    result = run_module(convex_health, base_args(convex_standin))
    assert by_name(result)["admin_key"]["status"] == "fail" and "not JSON" in by_name(result)["admin_key"]["hint"]


def test_admin_key_from_env_file(run_module, convex_standin, tmp_path):
    env_file = tmp_path / "convex-admin.env"
    env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n"
                        % (convex_standin.url, convex_standin.admin_key()))
    args = base_args(convex_standin, admin_key_env_file=str(env_file))
    del args["admin_key"]
    result = run_module(convex_health, args)
    assert by_name(result)["admin_key"]["status"] == "ok"
    env_file.write_text("OTHER=1\n")
    result = run_module(convex_health, args)
    assert result["failed"] is True and "no CONVEX_SELF_HOSTED_ADMIN_KEY" in by_name(result)["admin_key"]["hint"]
    assert [p["name"] for p in result["probes"]][:3] == ["backend_version", "instance_name", "admin_key"]
    env_file.unlink()
    result = run_module(convex_health, args)
    assert "cannot be read" in by_name(result)["admin_key"]["hint"] and by_name(result)["dashboard"]["status"] == "ok"


def test_backup_age_counts_only_verified_backups_unless_told_otherwise(run_module, convex_standin, tmp_path):
    verified = tmp_path / "snapshot_joelclaw_1.zip"
    verified.write_bytes(b"zip")
    (tmp_path / "snapshot_joelclaw_1.manifest.json").write_text("{}")
    old = time.time() - 60 * 3600
    os.utime(verified, (old, old))
    (tmp_path / "snapshot_joelclaw_2.zip").write_bytes(b"fresh, but no manifest: a stray or partial export")
    args = base_args(convex_standin, backup_dir=str(tmp_path), fail_on="never")
    probe = by_name(run_module(convex_health, args))["backup_age"]
    assert probe["status"] == "fail" and probe["value"].startswith("60.0h (snapshot_joelclaw_1.zip)")
    lenient = by_name(run_module(convex_health, dict(args, backup_require_manifest=False)))["backup_age"]
    assert lenient["status"] == "ok" and "snapshot_joelclaw_2.zip" in lenient["value"]


def test_backup_probe_edge_cases(run_module, convex_standin, tmp_path):
    result = run_module(convex_health, base_args(convex_standin, backup_dir=str(tmp_path)))
    assert by_name(result)["backup_age"]["value"] == "none" and result["failed"] is True
    result = run_module(convex_health, base_args(convex_standin, backup_dir=str(tmp_path / "missing")))
    assert "cannot read" in by_name(result)["backup_age"]["hint"]


def test_no_backup_yet_warns_until_the_installed_jobs_first_run_is_due(run_module, convex_standin, tmp_path):
    """Right after the first converge the job is installed (its config exists) and no backup exists:
    a warning, not a failure, until a daily run is due (backup_age_warn_hours after the install)."""
    backups = tmp_path / "backups"
    backups.mkdir()
    job = tmp_path / "config.json"
    job.write_text("{}")
    args = base_args(convex_standin, backup_dir=str(backups), backup_job_file=str(job))
    fresh = run_module(convex_health, args)
    probe = by_name(fresh)["backup_age"]
    assert probe["status"] == "warn" and probe["value"] == "none yet", probe
    assert "no backup yet, job installed" in probe["hint"] and "playbooks/backup.yml" in probe["hint"]

    overdue = time.time() - 27 * 3600  # past the default 26 h: the first daily run should have happened
    os.utime(job, (overdue, overdue))
    late = by_name(run_module(convex_health, args))["backup_age"]
    assert late["status"] == "fail" and "should have happened" in late["hint"], late
    assert late["installed_hours"] >= 27

    job.unlink()
    missing = by_name(run_module(convex_health, args))["backup_age"]
    assert missing["status"] == "fail" and "no backup job installed" in missing["hint"], missing


# ---------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_server_factory(tmp_path_factory):
    servers = []

    def make(days):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        folder = tmp_path_factory.mktemp("tls")
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)

        def serve():
            while True:
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    return
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass
        threading.Thread(target=serve, daemon=True).start()
        servers.append(listener)
        return "localhost:%d" % listener.getsockname()[1], str(cert_path)

    yield make
    for listener in servers:
        listener.close()


@pytest.mark.parametrize("days, status", [(60, "ok"), (10, "warn"), (2, "fail")])
def test_certificate_days_left(run_module, convex_standin, tls_server_factory, days, status):
    target, ca = tls_server_factory(days)
    result = run_module(convex_health, base_args(convex_standin, tls_hosts=[target], ca_path=ca, fail_on="never"))
    probe = by_name(result)["tls " + target]
    assert probe["status"] == status and days - 1 < probe["days_left"] <= days


def test_untrusted_certificate_fails(run_module, convex_standin, tls_server_factory):
    target, _ca = tls_server_factory(60)
    result = run_module(convex_health, base_args(convex_standin, tls_hosts=[target]))
    probe = by_name(result)["tls " + target]
    assert probe["status"] == "fail" and "not trusted" in probe["hint"]


def test_tls_hosts_default_to_https_origins():
    params = {"url": "https://mac.example.ts.net", "site_url": "https://mac.example.ts.net:8443",
              "dashboard_url": "http://127.0.0.1:6791", "instance_name": None, "timeout": 1, "timeouts": {},
              "validate_certs": True, "ca_path": None, "tls_hosts": None, "kubeconfig": None, "backup_dir": None, "offsite_status_file": None,
              "site_path": "/", "thresholds": {"tls_days_warn": 14, "tls_days_fail": 3}}
    names = [job[0][0] for job in convex_health.build_jobs(params, None)]
    assert names == ["backend_version", "instance_name", "http_actions", "dashboard",
                     "tls mac.example.ts.net:443", "tls mac.example.ts.net:8443"]


# ---------------------------------------------------------------------------- Kubernetes (fake API objects)
def fake_apis(ready=1, restarts=0, phase="Bound", fail=None):
    # As roles/convex_backend/templates/statefulset.yml.j2 renders it: one container, "backend".
    sts = NS(spec=NS(replicas=1, selector=NS(match_labels={"app": "convex"}),
                     template=NS(spec=NS(containers=[NS(name="backend")])),
                     volume_claim_templates=[NS(metadata=NS(name="data"))]),
             status=NS(ready_replicas=ready))
    pod = NS(status=NS(container_statuses=[NS(restart_count=restarts)]))
    calls = []

    class Apps(object):
        def read_namespaced_stateful_set(self, name, namespace, _request_timeout=None):
            calls.append(("sts", name, namespace))
            if fail:
                raise fail
            return sts

    class Core(object):
        def list_namespaced_pod(self, namespace, label_selector=None, _request_timeout=None):
            calls.append(("pods", label_selector))
            return NS(items=[pod])

        def read_namespaced_persistent_volume_claim(self, name, namespace, _request_timeout=None):
            calls.append(("pvc", name))
            return NS(status=NS(phase=phase))

    def apis(kubeconfig, context=None):
        calls.append(("apis", kubeconfig, context))
        return Apps(), Core()

    return apis, calls


def test_kubernetes_healthy(monkeypatch, run_module, convex_standin):
    apis, calls = fake_apis()
    monkeypatch.setattr(health, "kube_apis", apis)
    result = run_module(convex_health, base_args(convex_standin, kubeconfig="/nonexistent/kubeconfig",
                                                 namespace="joelclaw", statefulset="convex"))
    probes = by_name(result)
    assert probes["statefulset"]["value"] == "1/1 ready" and probes["pvc"]["value"] == "1 Bound"
    assert probes["pod_restarts"]["status"] == "ok" and result["verdict"] == "ok"
    assert ("sts", "convex", "joelclaw") in calls and ("pods", "app=convex") in calls and ("pvc", "data-convex-0") in calls


def test_kubernetes_unhealthy(monkeypatch, run_module, convex_standin):
    apis, _calls = fake_apis(ready=0, restarts=6, phase="Pending")
    monkeypatch.setattr(health, "kube_apis", apis)
    result = run_module(convex_health, base_args(convex_standin, kubeconfig="/k"))
    probes = by_name(result)
    assert probes["statefulset"]["status"] == "fail" and probes["statefulset"]["value"] == "0/1 ready"
    assert probes["pod_restarts"]["status"] == "fail" and probes["pod_restarts"]["restarts"] == 6
    assert probes["pvc"]["status"] == "fail" and "Pending" in probes["pvc"]["value"]


def test_kubernetes_restarts_warn(monkeypatch, run_module, convex_standin):
    apis, _calls = fake_apis(restarts=2)
    monkeypatch.setattr(health, "kube_apis", apis)
    result = run_module(convex_health, base_args(convex_standin, kubeconfig="/k"))
    assert by_name(result)["pod_restarts"]["status"] == "warn" and result["verdict"] == "warn"


def test_kubernetes_api_error(monkeypatch, run_module, convex_standin):
    error = Exception("Forbidden")
    error.status, error.reason = 403, "Forbidden"
    apis, _calls = fake_apis(fail=error)
    monkeypatch.setattr(health, "kube_apis", apis)
    result = run_module(convex_health, base_args(convex_standin, kubeconfig="/k"))
    probes = by_name(result)
    for name in ("statefulset", "pod_restarts", "pvc"):
        assert probes[name]["status"] == "fail" and "HTTP 403" in probes[name]["hint"]


def test_unknown_timeout_name_is_refused(run_module, convex_standin):
    result = run_module(convex_health, base_args(convex_standin, timeouts={"versoin": 1}))
    assert result["failed"] is True and "versoin" in result["msg"]


def test_admin_key_from_an_env_file_with_export_lines_quotes_and_comments(run_module, convex_standin, tmp_path):
    env_file = tmp_path / "convex-admin.env"
    env_file.write_text("# written by hand\nexport CONVEX_SELF_HOSTED_URL='%s'\n"
                        "export CONVEX_SELF_HOSTED_ADMIN_KEY=\"%s\"  # rotated today\n"
                        % (convex_standin.url, convex_standin.admin_key()))
    args = base_args(convex_standin, admin_key_env_file=str(env_file))
    del args["admin_key"]
    result = run_module(convex_health, args)
    assert by_name(result)["admin_key"]["status"] == "ok", by_name(result)["admin_key"]


def test_kubernetes_hints_name_the_kubeconfig(monkeypatch, run_module, convex_standin):
    # The cluster is reached only through convex_kubeconfig (no default context on the Mac), so a
    # kubectl hint without --kubeconfig would talk to another cluster or to none (issue 17).
    apis, _calls = fake_apis(ready=0, restarts=6, phase="Pending")
    monkeypatch.setattr(health, "kube_apis", apis)
    kubeconfig = "/Users/joel smith/.joelclaw/kubeconfig"
    result = run_module(convex_health, base_args(convex_standin, kubeconfig=kubeconfig,
                                                 namespace="joelclaw", statefulset="convex"))
    probes = by_name(result)
    for name in ("statefulset", "pod_restarts", "pvc"):
        hint = probes[name]["hint"]
        assert "kubectl --kubeconfig '%s' -n joelclaw " % kubeconfig in hint, (name, hint)
    assert "describe pvc data-convex-0" in probes["pvc"]["hint"]
    assert "logs convex-0 -c backend --previous" in probes["pod_restarts"]["hint"]


def test_kubernetes_context_is_passed_and_named_in_hints(monkeypatch, run_module, convex_standin):
    # convex_kube_context: a kubeconfig shared with other clusters; the probes must read the named
    # context's cluster, and the kubectl hints must name it too (issues 13/15).
    apis, calls = fake_apis(ready=0, restarts=6, phase="Pending")
    monkeypatch.setattr(health, "kube_apis", apis)
    result = run_module(convex_health, base_args(convex_standin, kubeconfig="/k", context="admin@convex",
                                                 namespace="joelclaw"))
    assert ("apis", "/k", "admin@convex") in calls, calls
    for name in ("statefulset", "pod_restarts", "pvc"):
        assert "kubectl --kubeconfig /k --context admin@convex -n joelclaw " in by_name(result)[name]["hint"]


def test_kube_apis_loads_the_named_context(tmp_path):
    # The real kubernetes client loader: two contexts, the current one is not the one named.
    pytest.importorskip("kubernetes")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\n"
        "clusters:\n"
        "- {name: other, cluster: {server: 'https://127.0.0.1:1111', insecure-skip-tls-verify: true}}\n"
        "- {name: convex, cluster: {server: 'https://127.0.0.1:2222', insecure-skip-tls-verify: true}}\n"
        "users:\n- {name: u, user: {token: t}}\n"
        "contexts:\n- {name: other, context: {cluster: other, user: u}}\n"
        "- {name: admin@convex, context: {cluster: convex, user: u}}\n")
    apps, core = health.kube_apis(str(kubeconfig), "admin@convex")
    assert apps.api_client.configuration.host == "https://127.0.0.1:2222"
    assert core.api_client.configuration.host == "https://127.0.0.1:2222"
    apps, _core = health.kube_apis(str(kubeconfig), "")
    assert apps.api_client.configuration.host == "https://127.0.0.1:1111"
