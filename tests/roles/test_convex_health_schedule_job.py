# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled health job of roles/convex_health_schedule, laid out as the role installs it (the job
file, and the collection's _convex_health / _convex_client / _convex_env_file under lib/), run in-process with an
injected clock and sleep against the Convex TEST STAND-IN, alerting a receiver on loopback.

The receiver stands in for Inngest's event API: POST /e/{key}, 200 on success, 401 for an unknown key
(inngest/inngest pkg/api/api.go ReceiveEvent @ 253303cdffec27f6c70e208114305326baaa5dd7; the body is
an event {"name", "data", ...}, pkg/event/event.go). It also serves as the generic webhook.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import stat
import sys
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from playbook_runner import ROOT

sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
import convex_standin as standin_lib  # noqa: E402  pylint: disable=wrong-import-position

JOB = ROOT / "roles" / "convex_health_schedule" / "files" / "convex_health_job.py"
EVENT_KEY = "evtkey-" + secrets.token_hex(16)
DAY = 86400.0


class Receiver(object):
    def __init__(self):
        self.received = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((self.path, self.headers.get("Content-Type"), body))
                if receiver.status == 200 and self.path.startswith("/e/") and self.path != "/e/" + EVENT_KEY:
                    status, answer = 401, {"error": "Event key not found"}
                else:
                    status, answer = receiver.status, {"ids": ["01J"], "status": receiver.status}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [json.loads(body) for _path, _ctype, body in self.received]


@pytest.fixture(scope="module")
def job_module(tmp_path_factory):
    """The job and its lib/ as install.yml lays them out, imported from there."""
    install = tmp_path_factory.mktemp("health-job")
    shutil.copy(JOB, install / "convex_health_job.py")
    lib = install / "lib" / "ansible_collections" / "joelclaw" / "macmini" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in ("_convex_health.py", "_convex_client.py", "_convex_env_file.py"):
        shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
    spec = importlib.util.spec_from_file_location("convex_health_job_under_test", install / "convex_health_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()


@pytest.fixture(scope="module")
def backend():
    standin = standin_lib.ConvexStandin("joelclaw", secrets.token_hex(32)).start()
    yield standin
    standin.stop()


@pytest.fixture
def setup(tmp_path, receiver, backend):
    receiver.received.clear()
    receiver.status = 200
    backend.state.status_override.clear()
    key_file = tmp_path / "inngest-event-key"
    key_file.write_text(EVENT_KEY + "\n")
    env_file = tmp_path / "convex-admin.env"
    admin_key = backend.admin_key()  # each call mints another key: keep the one the job reads
    env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n" % (backend.url, admin_key))
    config = {
        "url": backend.url, "instance_name": "joelclaw", "admin_key_env_file": str(env_file),
        "state_dir": str(tmp_path / "health"), "history_size": 3, "timeout": 10,
        "thresholds": {"tls_days_warn": 14, "tls_days_fail": 3, "backup_age_warn_hours": 26, "backup_age_fail_hours": 50},
        "validate_certs": True, "ca_path": None,
        "inngest_url": receiver.url, "inngest_event_key_file": str(key_file),
        "webhook_url": receiver.url + "/hook/" + "t" * 8,
        "reminder_hours": 24, "send_attempts": 3, "send_backoff": 2, "send_timeout": 2,
    }
    path = tmp_path / "config.json"

    def write(**changes):
        config.update(changes)
        path.write_text(json.dumps(config))
        return path

    write()
    return config, write, admin_key


def run(job_module, config_path, now, sleeps=None, logs=None):
    logs = [] if logs is None else logs
    rc = job_module.main(["--config", str(config_path)], clock=lambda: now,
                         sleep=(sleeps.append if sleeps is not None else lambda _s: None), log=logs.append)
    return rc, logs


def test_state_changes_send_one_event_each_way_and_never_repeat(job_module, setup, receiver, backend):
    config, write, admin_key = setup
    path = write()
    t0 = 1_800_000_000.0
    assert run(job_module, path, t0)[0] == 0
    assert receiver.received == [], "an ok first run announces nothing"

    backend.state.status_override["/version"] = 503
    assert run(job_module, path, t0 + 300)[0] == 0
    paths = sorted(p for p, _c, _b in receiver.received)
    assert paths == ["/e/" + EVENT_KEY, "/hook/tttttttt"]
    inngest = next(json.loads(b) for p, _c, b in receiver.received if p.startswith("/e/"))
    assert inngest["name"] == "joelclaw/convex.health"
    assert inngest["data"]["verdict"] == "fail" and inngest["data"]["kind"] == "changed"
    assert inngest["data"]["previous_verdict"] is None
    assert [f["name"] for f in inngest["data"]["failing"]] == ["backend_version"]
    assert "HTTP 503" in inngest["data"]["failing"][0]["hint"]
    assert all(ctype == "application/json" for _p, ctype, _b in receiver.received)

    # Still failing, same day: nothing new.
    for minutes in (5, 10, 600):
        run(job_module, path, t0 + 300 + minutes * 60)
    assert len(receiver.received) == 2

    backend.state.status_override.clear()
    run(job_module, path, t0 + 3600)
    assert len(receiver.received) == 4
    recovered = list(receiver.events()[2:])
    assert {e.get("data", e)["verdict"] for e in recovered} == {"ok"}
    assert {e.get("data", e)["previous_verdict"] for e in recovered} == {"fail"}
    run(job_module, path, t0 + 3900)
    assert len(receiver.received) == 4

    # No secret in anything that left the host: the admin key, the instance secret, the event key.
    bodies = b"".join(b for _p, _c, b in receiver.received)
    for secret in (admin_key, admin_key.split("|")[-1], EVENT_KEY):
        assert secret.encode() not in bodies


def test_daily_reminder_while_it_stays_bad(job_module, setup, receiver, backend):
    _config, write, _key = setup
    path = write(webhook_url=None)
    backend.state.status_override["/instance_name"] = 500
    t0 = 1_800_000_000.0
    run(job_module, path, t0)
    run(job_module, path, t0 + DAY - 60)
    assert [e["data"]["kind"] for e in receiver.events()] == ["changed"]
    run(job_module, path, t0 + DAY)
    run(job_module, path, t0 + DAY + 300)
    events = receiver.events()
    assert [e["data"]["kind"] for e in events] == ["changed", "reminder"]
    assert events[1]["data"]["since"] == events[0]["data"]["checked_at"], "the reminder says since when"


def test_receiver_down_retries_with_backoff_logs_and_exits_0(job_module, setup, receiver, backend):
    _config, write, _key = setup
    path = write(webhook_url=None)
    backend.state.status_override["/version"] = 503
    receiver.status = 503
    sleeps, logs = [], []
    rc = run(job_module, path, 1_800_000_000.0, sleeps, logs)[0]
    assert rc == 0
    assert len(receiver.received) == 3
    assert sleeps == [2.0, 4.0]
    assert any("failed (HTTP 503) after 3 attempts" in line for line in logs), logs
    assert not any(EVENT_KEY in line for line in logs), "the event key is in the URL: never logged"
    # Nothing was delivered, so the next run tries again; once delivered, it stops.
    receiver.status = 200
    run(job_module, path, 1_800_000_300.0)
    run(job_module, path, 1_800_000_600.0)
    assert len(receiver.received) == 4

    # Nothing listening at all: connection refused, retried, logged, exit 0.
    receiver.received.clear()
    backend.state.status_override.clear()
    sleeps, logs = [], []
    rc = run(job_module, write(inngest_url="http://127.0.0.1:9"), 1_800_000_900.0, sleeps, logs)[0]
    assert rc == 0 and sleeps == [2.0, 4.0]
    assert any("after 3 attempts" in line and "refused" in line for line in logs), logs


def test_report_and_bounded_history_are_private(job_module, setup):
    config, write, admin_key = setup
    path = write()
    for i in range(5):
        run(job_module, path, 1_800_000_000.0 + i * 300)
    state = config["state_dir"]
    report = json.load(open(os.path.join(state, "report.json")))
    assert report["verdict"] == "ok"
    assert {p["name"] for p in report["probes"]} == {"backend_version", "instance_name", "admin_key"}
    history = open(os.path.join(state, "history.jsonl")).read().splitlines()
    assert [json.loads(line)["checked_at"] for line in history] == [
        "2027-01-15T08:%02d:00Z" % m for m in (10, 15, 20)]
    for name in ("report.json", "history.jsonl", "alerts.json"):
        assert stat.S_IMODE(os.stat(os.path.join(state, name)).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert admin_key not in open(os.path.join(state, "history.jsonl")).read()


def test_missing_key_file_is_a_failed_probe_not_a_crash(job_module, setup, receiver):
    config, write, _key = setup
    os.unlink(config["admin_key_env_file"])
    logs = []
    rc = run(job_module, write(webhook_url=None), 1_800_000_000.0, logs=logs)[0]
    assert rc == 0
    event = receiver.events()[0]["data"]
    assert [f["name"] for f in event["failing"]] == ["admin_key"]
    assert "cannot be read" in event["failing"][0]["hint"]


def test_a_failed_restore_drill_turns_the_scheduled_health_to_fail_and_alerts(job_module, setup, receiver, tmp_path):
    """The drill result file as playbooks/restore-drill.yml (or the monthly runner) writes it."""
    config, write, _admin_key = setup
    drill = tmp_path / "restore-drill.json"
    t0 = 1_800_000_000.0
    record = {"format": 1, "ok": True, "date": "2027-01-15T08:00:00Z", "date_unix": t0 - 3600, "rto_seconds": 27.0,
              "backup": "snapshot_joelclaw_x.zip", "documents": 8, "problems": []}
    drill.write_text(json.dumps(record))
    path = write(restore_drill_file=str(drill))
    assert run(job_module, path, t0)[0] == 0
    report = json.load(open(os.path.join(config["state_dir"], "report.json")))
    probes = {p["name"]: p for p in report["probes"]}
    assert probes["restore_drill"]["status"] == "ok" and report["verdict"] == "ok", report
    drill.write_text(json.dumps(dict(record, ok=False, problems=["the scheduled drill (ansible-playbook) exited 2"])))
    assert run(job_module, path, t0 + 600)[0] == 0
    report = json.load(open(os.path.join(config["state_dir"], "report.json")))
    probes = {p["name"]: p for p in report["probes"]}
    assert probes["restore_drill"]["status"] == "fail" and report["verdict"] == "fail", report
    assert "exited 2" in probes["restore_drill"]["hint"]
    assert [e["data"]["verdict"] for e in receiver.events() if e.get("name") == "joelclaw/convex.health"] == ["fail"]
