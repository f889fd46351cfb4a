# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tailscale_serve against a stateful fake `tailscale` CLI seeded with recorded status JSON.

Each change is paired with its check-mode twin and an idempotent re-run; every refusal asserts that
no changing command ran.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _tailscale_serve as util
from ansible_collections.joelclaw.macmini.plugins.modules import tailscale_serve

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "fakebin"))
import tailscale_cli  # noqa: E402  pylint: disable=wrong-import-position

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tailscale_serve")
HOST = "macmini.example-tailnet.ts.net"
WANT = [
    {"port": 443, "target": "http://127.0.0.1:8780", "site": "api"},
    {"port": 8443, "target": "http://127.0.0.1:8781", "site": "site"},
]
MANAGED = [443, 8443, 8444, 10000]


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


class Node:
    """A fake tailscale node: the CLI on disk plus its state file."""

    def __init__(self, tmp_path, monkeypatch, serve="serve_empty.json", status="status_funnel_allowed.json"):
        self.state_path = str(tmp_path / "tailscale-state.json")
        self.bin = tailscale_cli.install(tmp_path)
        recorded = fixture(status)
        tailscale_cli.write_state(
            self.state_path,
            dns_name=recorded["Self"]["DNSName"].rstrip("."),
            caps=sorted(recorded["Self"].get("CapMap", {})),
            serve=fixture(serve),
            backend=recorded["BackendState"],
        )
        monkeypatch.setenv("FAKE_TAILSCALE_STATE", self.state_path)

    @property
    def state(self):
        with open(self.state_path, encoding="utf-8") as handle:
            return json.load(handle)

    def changing_calls(self):
        return [c for c in self.state["calls"] if "status" not in c]

    def args(self, **extra):
        args = {"host": HOST, "serve": WANT, "managed_ports": MANAGED, "tailscale_bin": self.bin}
        args.update(extra)
        return args


@pytest.fixture
def node(tmp_path, monkeypatch):
    return lambda **kw: Node(tmp_path, monkeypatch, **kw)


def test_nothing_configured_becomes_configured_then_stays(node, run_module):
    ts = node()
    checked = run_module(tailscale_serve, ts.args(), check_mode=True, diff=True)
    assert checked["changed"] is True
    assert ts.changing_calls() == [], "check mode ran a changing command"
    assert checked["diff"]["before"] == {}
    assert checked["diff"]["after"] == {"443": {"target": "http://127.0.0.1:8780", "funnel": True},
                                        "8443": {"target": "http://127.0.0.1:8781", "funnel": True}}

    result = run_module(tailscale_serve, ts.args(), diff=True)
    assert result["changed"] is True
    assert result["commands"] == checked["commands"]
    assert ts.changing_calls() == [
        ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"],
        ["funnel", "--bg", "--yes", "--https=8443", "http://127.0.0.1:8781"],
    ]
    # The fake's config is now the recorded "configured" output.
    assert ts.state["serve"] == fixture("serve_configured.json")
    assert result["diff"] == checked["diff"]

    again = run_module(tailscale_serve, ts.args())
    assert again["changed"] is False and again["commands"] == []
    assert len(ts.changing_calls()) == 2


def test_already_configured_is_unchanged_in_both_modes(node, run_module):
    ts = node(serve="serve_configured.json")
    for check_mode in (True, False):
        result = run_module(tailscale_serve, ts.args(), check_mode=check_mode, diff=True)
        assert result["changed"] is False, result
        assert result["diff"]["before"] == result["diff"]["after"]
    assert ts.changing_calls() == []


def test_a_stale_funnel_port_is_removed_and_unmanaged_ports_are_left_alone(node, run_module):
    ts = node(serve="serve_stale_funnel.json")
    checked = run_module(tailscale_serve, ts.args(), check_mode=True, diff=True)
    assert checked["changed"] is True and ts.changing_calls() == []
    assert "10000" in checked["diff"]["before"] and "10000" not in checked["diff"]["after"]

    result = run_module(tailscale_serve, ts.args())
    assert result["changed"] is True
    assert ts.changing_calls() == [["funnel", "--https=10000", "off"]]
    assert result["unmanaged_ports"] == [9000]
    serve = ts.state["serve"]
    assert sorted(serve["TCP"]) == ["443", "8443", "9000"]
    assert HOST + ":10000" not in serve["AllowFunnel"]
    assert serve["Web"][HOST + ":9000"] == {"Handlers": {"/": {"Proxy": "http://127.0.0.1:9001"}}}

    assert run_module(tailscale_serve, ts.args())["changed"] is False


def test_a_changed_target_is_removed_then_set(node, run_module):
    ts = node(serve="serve_configured.json")
    want = [dict(WANT[0], target="http://127.0.0.1:8790"), WANT[1]]
    result = run_module(tailscale_serve, ts.args(serve=want))
    assert result["changed"] is True
    assert ts.changing_calls() == [
        ["funnel", "--https=443", "off"],
        ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8790"],
    ]
    assert ts.state["serve"]["Web"][HOST + ":443"]["Handlers"]["/"]["Proxy"] == "http://127.0.0.1:8790"


def test_a_tailnet_only_serve_on_a_port_caddy_needs_is_cleared(node, run_module):
    # Someone ran `tailscale serve --https=8444 ...`: it would shadow Caddy's dashboard on the Tailscale IP.
    ts = node(serve="serve_configured.json")
    serve = ts.state["serve"]
    serve["TCP"]["8444"] = {"HTTPS": True}
    serve["Web"][HOST + ":8444"] = {"Handlers": {"/": {"Proxy": "http://127.0.0.1:6791"}}}
    tailscale_cli.write_state(ts.state_path, caps=tailscale_cli.DEFAULT_CAPS, serve=serve)
    result = run_module(tailscale_serve, ts.args())
    assert result["changed"] is True
    assert ts.changing_calls() == [["serve", "--https=8444", "off"]]


def test_funnel_not_permitted_by_policy_fails_clearly_before_any_change(node, run_module):
    ts = node(status="status_no_funnel.json")
    for check_mode in (True, False):
        result = run_module(tailscale_serve, ts.args(), check_mode=check_mode)
        assert result["failed"] is True
        assert "not permitted for this node by the tailnet policy" in result["msg"]
        assert '"attr": ["funnel"]' in result["msg"] and "443, 8443" in result["msg"]
    assert ts.changing_calls() == []


def test_https_off_and_funnel_port_not_in_policy_fail_clearly(node, run_module):
    ts = node()
    tailscale_cli.write_state(ts.state_path, caps=["funnel"])
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True and "HTTPS certificates are off" in result["msg"]

    tailscale_cli.write_state(ts.state_path, caps=["https", "funnel",
                                                   "https://tailscale.com/cap/funnel-ports?ports=443"])
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True
    assert "allows Funnel on ports 443 only, not 8443" in result["msg"]
    assert ts.changing_calls() == []


def test_a_refusal_from_the_cli_itself_is_explained(node, run_module, monkeypatch):
    # The capability check passed (stale status), but tailscaled refuses: the message says what to change.
    ts = node()
    monkeypatch.setattr(tailscale_serve, "check_node", lambda info, host, ports: [])
    tailscale_cli.write_state(ts.state_path, caps=["https"])
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True
    assert "Funnel is not enabled on your tailnet" in result["msg"]
    assert "not permitted for this node by the tailnet policy" in result["msg"]


def test_serve_only_entries_need_no_funnel_permission(node, run_module):
    ts = node(status="status_no_funnel.json")
    result = run_module(tailscale_serve, ts.args(serve=[{"port": 8445, "target": "http://127.0.0.1:6791",
                                                         "funnel": False}]))
    assert result["changed"] is True
    assert ts.changing_calls() == [["serve", "--bg", "--yes", "--https=8445", "http://127.0.0.1:6791"]]
    assert "AllowFunnel" not in ts.state["serve"]


@pytest.mark.parametrize("bad, expected", [
    ({"serve": [{"port": 8080, "target": "http://127.0.0.1:8780"}]}, "port=8080 cannot be funnelled"),
    ({"serve": [{"port": 443, "target": "127.0.0.1 8780"}]}, "is not a URL tailscaled can proxy to"),
    ({"serve": [WANT[0], dict(WANT[1], port=443)]}, "port=443 appears twice"),
    ({"host": "convex.joelclaw.com"}, "ending in .ts.net"),
    ({"managed_ports": [0]}, "managed_ports: 0 is not a TCP port"),
])
def test_bad_input_fails_before_running_the_cli(node, run_module, bad, expected):
    ts = node()
    result = run_module(tailscale_serve, ts.args(**bad))
    assert result["failed"] is True and expected in result["msg"], result["msg"]
    assert ts.state["calls"] == []


def test_wrong_node_name_and_stopped_backend_fail_before_any_change(node, run_module):
    ts = node()
    result = run_module(tailscale_serve, ts.args(host="othermac.example-tailnet.ts.net"))
    assert result["failed"] is True
    assert "set convex_tailnet_hostname to 'macmini.example-tailnet.ts.net'" in result["msg"]
    tailscale_cli.write_state(ts.state_path, backend="Stopped")
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True and "BackendState='Stopped'" in result["msg"]
    assert ts.changing_calls() == []


def test_missing_cli_skips_or_fails_as_asked(node, run_module, tmp_path):
    node()
    missing = str(tmp_path / "no-such-tailscale")
    skipped = run_module(tailscale_serve, {"host": HOST, "serve": WANT, "tailscale_bin": missing,
                                           "when_missing": "skip"})
    assert skipped["skipped"] is True and skipped["changed"] is False
    assert "is not on this machine" in skipped["msg"]
    failed = run_module(tailscale_serve, {"host": HOST, "serve": WANT, "tailscale_bin": missing})
    assert failed["failed"] is True and "is not on this machine" in failed["msg"]


def test_a_config_that_does_not_stick_is_reported(node, run_module, monkeypatch):
    ts = node()
    monkeypatch.setenv("FAKE_TAILSCALE_BROKEN", "1")
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True
    assert "does not match" in result["msg"]


def test_a_hanging_cli_times_out_with_a_hint(node, run_module, tmp_path):
    node()
    hang = tmp_path / "hanging-tailscale"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    result = run_module(tailscale_serve, {"host": HOST, "serve": WANT, "tailscale_bin": str(hang),
                                          "command_timeout": 1})
    assert result["failed"] is True and "did not finish within 1s" in result["msg"]


@pytest.mark.parametrize("text", ["", "null", "{}", "\n"])
def test_empty_serve_status_means_nothing_configured(text):
    assert util.current_entries(util.parse_json(text, "serve status"), HOST) == {}


def test_recorded_outputs_parse_to_the_expected_entries():
    entries = util.current_entries(fixture("serve_stale_funnel.json"), HOST)
    assert entries[443] == {"target": "http://127.0.0.1:8780", "funnel": True, "kind": "proxy", "detail": None}
    assert entries[9000]["funnel"] is False and entries[10000]["funnel"] is True
    info = util.node_info(fixture("status_funnel_allowed.json"))
    assert info["dns_name"] == HOST
    assert util.allowed_funnel_ports(info["caps"]) == {443, 8443, 10000}
    assert util.allowed_funnel_ports({"https://tailscale.com/cap/funnel-ports?ports=443,8000-8002"}) == \
        {443, 8000, 8001, 8002}
    assert util.allowed_funnel_ports({"https"}) is None


def test_a_path_handler_or_tcp_forward_is_not_mistaken_for_our_proxy():
    config = {"TCP": {"443": {"HTTPS": True}, "10000": {"TCPForward": "127.0.0.1:22"}},
              "Web": {HOST + ":443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8780"},
                                                   "/x": {"Text": "hi"}}}}}
    entries = util.current_entries(config, HOST)
    assert entries[443]["kind"] == "other" and entries[10000]["kind"] == "other"
    actions = util.plan(entries, {443: {"target": "http://127.0.0.1:8780", "funnel": True}}, {443, 10000})
    assert [a["action"] for a in actions] == ["remove", "set", "remove"]
