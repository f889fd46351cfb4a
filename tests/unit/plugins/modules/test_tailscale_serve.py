# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tailscale_serve against a stateful fake `tailscale` CLI seeded with recorded status JSON.

Each change is paired with its check-mode twin and an idempotent re-run; every refusal asserts that
no changing command ran.
"""
from __future__ import annotations

import json
import os
import subprocess
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


def ledger(tmp_path, ports):
    """A state_file as the module writes it: what the collection set on an earlier run."""
    path = tmp_path / "serve-ledger.json"
    path.write_text(json.dumps({"host": HOST, "ports": dict(
        (str(port), {"target": target, "funnel": funnel}) for port, (target, funnel) in ports.items())}))
    return str(path)


# What earlier runs of the collection set: the two Funnel sites, and a third site it once had on 10000.
EARLIER = {443: ("http://127.0.0.1:8780", True), 8443: ("http://127.0.0.1:8781", True),
           10000: ("http://127.0.0.1:3000", True)}


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


def test_a_stale_funnel_port_is_removed_and_unmanaged_ports_are_left_alone(node, run_module, tmp_path):
    # 10000 is a site the collection served on an earlier run (its ledger says so); 9000 is someone else's.
    ts = node(serve="serve_stale_funnel.json")
    state = ledger(tmp_path, EARLIER)
    checked = run_module(tailscale_serve, ts.args(state_file=state), check_mode=True, diff=True)
    assert checked["changed"] is True and ts.changing_calls() == []
    assert "10000" in checked["diff"]["before"] and "10000" not in checked["diff"]["after"]

    result = run_module(tailscale_serve, ts.args(state_file=state))
    assert result["changed"] is True
    assert ts.changing_calls() == [["serve", "--yes", "--https=10000", "off"]]
    assert result["unmanaged_ports"] == [9000]
    serve = ts.state["serve"]
    assert sorted(serve["TCP"]) == ["443", "8443", "9000"]
    assert HOST + ":10000" not in serve["AllowFunnel"]
    assert serve["Web"][HOST + ":9000"] == {"Handlers": {"/": {"Proxy": "http://127.0.0.1:9001"}}}

    assert run_module(tailscale_serve, ts.args(state_file=state))["changed"] is False


def test_a_changed_target_is_set_in_place_without_a_gap(node, run_module, tmp_path):
    # SetWebHandler replaces the "/" handler (ipn/serve.go@v1.102.3): no removal, so no moment without a proxy.
    ts = node(serve="serve_configured.json")
    want = [dict(WANT[0], target="http://127.0.0.1:8790"), WANT[1]]
    state = ledger(tmp_path, EARLIER)
    result = run_module(tailscale_serve, ts.args(serve=want, state_file=state))
    assert result["changed"] is True
    assert ts.changing_calls() == [["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8790"]]
    assert ts.state["serve"]["Web"][HOST + ":443"]["Handlers"]["/"]["Proxy"] == "http://127.0.0.1:8790"
    assert run_module(tailscale_serve, ts.args(serve=want, state_file=state))["changed"] is False


def test_funnel_turned_off_on_a_port_by_setting_it_with_the_serve_verb(node, run_module):
    # serve_v2.go@v1.102.3 applyFunnel: `tailscale serve` on a port clears its AllowFunnel (upstream test "combos").
    ts = node(serve="serve_configured.json")
    want = [WANT[0], dict(WANT[1], funnel=False)]
    result = run_module(tailscale_serve, ts.args(serve=want))
    assert result["changed"] is True
    assert ts.changing_calls() == [["serve", "--bg", "--yes", "--https=8443", "http://127.0.0.1:8781"]]
    assert ts.state["serve"]["AllowFunnel"] == {HOST + ":443": True}
    assert run_module(tailscale_serve, ts.args(serve=want))["changed"] is False


def test_stale_funnels_are_removed_even_when_the_funnel_capability_is_gone(node, run_module, tmp_path):
    # Without the capability `tailscale funnel ... off` prints an enablement URL and exits 0 having done
    # nothing (funnel.go verifyFunnelEnabled); removal goes through the serve verb, which needs no capability.
    ts = node(serve="serve_stale_funnel.json", status="status_no_funnel.json")
    state = ledger(tmp_path, EARLIER)
    result = run_module(tailscale_serve, ts.args(serve=[], managed_ports=[], state_file=state))
    assert result.get("failed") is not True, result["msg"]
    assert ts.changing_calls() == [["serve", "--yes", "--https=443", "off"],
                                   ["serve", "--yes", "--https=8443", "off"],
                                   ["serve", "--yes", "--https=10000", "off"]]
    assert ts.state["serve"] == {"TCP": {"9000": {"HTTPS": True}},
                                 "Web": {HOST + ":9000": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:9001"}}}}}
    assert run_module(tailscale_serve, ts.args(serve=[], managed_ports=[], state_file=state))["changed"] is False


def test_a_tcp_forward_with_funnel_is_removed_with_tcp_off_then_its_funnel_flag(node, run_module):
    # removeTCPServe refuses --https (serving TCP) and leaves AllowFunnel behind (serve_v2.go@v1.102.3).
    # The forward is not the collection's: only an explicit takeover lets it go.
    ts = node(serve="serve_tcp_forward.json")
    result = run_module(tailscale_serve, ts.args(serve=[WANT[0]], takeover_ports=[10000]))
    assert result.get("failed") is not True, result["msg"]
    calls = ts.changing_calls()
    assert calls[0] == ["serve", "--tcp=10000", "off"]
    assert calls[1][:4] == ["serve", "--bg", "--yes", "--http=10000"] and calls[1][4].startswith("text:")
    assert calls[2] == ["serve", "--yes", "--http=10000", "off"]
    assert ts.state["serve"] == fixture("serve_configured.json") | {
        "TCP": {"443": {"HTTPS": True}},
        "Web": {HOST + ":443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8780"}}}},
        "AllowFunnel": {HOST + ":443": True}}
    assert run_module(tailscale_serve, ts.args(serve=[WANT[0]], takeover_ports=[10000]))["changed"] is False


def test_a_funnel_flag_without_a_handler_is_cleared(node, run_module):
    # `serve|funnel --https=N off` fails with "handler does not exist" when AllowFunnel has no handler.
    ts = node(serve="serve_funnel_only.json")
    checked = run_module(tailscale_serve, ts.args(serve=[WANT[0]]), check_mode=True, diff=True)
    assert checked["changed"] is True and ts.changing_calls() == []
    assert checked["diff"]["before"]["10000"] == {"target": "(not a plain proxy)", "funnel": True}
    result = run_module(tailscale_serve, ts.args(serve=[WANT[0]]))
    assert result.get("failed") is not True, result["msg"]
    assert result["commands"] == checked["commands"]
    assert [c[:4] for c in ts.changing_calls()] == [["serve", "--bg", "--yes", "--http=10000"],
                                                    ["serve", "--yes", "--http=10000", "off"]]
    assert ts.state["serve"]["AllowFunnel"] == {HOST + ":443": True}
    assert "10000" not in ts.state["serve"]["TCP"]
    assert run_module(tailscale_serve, ts.args(serve=[WANT[0]]))["changed"] is False


@pytest.mark.parametrize("cli_version", ["1.88.3", "1.102.3"])
def test_a_port_with_several_mounts_is_removed_without_a_prompt(node, run_module, monkeypatch, cli_version):
    # Before v1.90 the "delete N handlers?" prompt reads stdin and, with none, answers no (exit 0, no change).
    monkeypatch.setenv("FAKE_TAILSCALE_VERSION", cli_version)
    ts = node(serve="serve_multi_mount.json")
    result = run_module(tailscale_serve, ts.args(serve=[WANT[0]], takeover_ports=[8443]))
    assert result.get("failed") is not True, result["msg"]
    assert ts.changing_calls() == [["serve", "--yes", "--https=8443", "off"]]
    assert sorted(ts.state["serve"]["TCP"]) == ["443"]


def test_a_tailnet_only_serve_on_a_port_caddy_needs_is_cleared_when_taken_over(node, run_module):
    # Someone ran `tailscale serve --https=8444 ...`: it would shadow Caddy's dashboard on the Tailscale IP.
    ts = node(serve="serve_configured.json")
    serve = ts.state["serve"]
    serve["TCP"]["8444"] = {"HTTPS": True}
    serve["Web"][HOST + ":8444"] = {"Handlers": {"/": {"Proxy": "http://127.0.0.1:6791"}}}
    tailscale_cli.write_state(ts.state_path, caps=tailscale_cli.DEFAULT_CAPS, serve=serve)
    result = run_module(tailscale_serve, ts.args(takeover_ports=[8444]))
    assert result["changed"] is True and result["taken_over"] == [8444]
    assert ts.changing_calls() == [["serve", "--yes", "--https=8444", "off"]]


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


def test_a_funnel_the_cli_silently_did_not_set_is_explained(node, run_module, monkeypatch):
    # The capability check passed (stale status), but the CLI prints an enablement URL and exits 0
    # (enableFeatureInteractive, serve_legacy.go@v1.102.3): the re-read catches it and says what to change.
    ts = node()
    monkeypatch.setattr(tailscale_serve, "check_node", lambda info, host, ports: [])
    tailscale_cli.write_state(ts.state_path, caps=["https"])
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True
    assert "does not match" in result["msg"]
    assert tailscale_cli.FEATURE_URL in result["msg"]
    assert "not permitted for this node by the tailnet policy" in result["msg"]


def test_a_refusal_from_the_cli_itself_is_explained(node, run_module, monkeypatch):
    # When control's feature query fails, the CLI falls back to ipn.CheckFunnelAccess and exits 1.
    ts = node()
    monkeypatch.setattr(tailscale_serve, "check_node", lambda info, host, ports: [])
    monkeypatch.setenv("FAKE_TAILSCALE_FEATURE", "error")
    tailscale_cli.write_state(ts.state_path, caps=["https"])
    result = run_module(tailscale_serve, ts.args())
    assert result["failed"] is True
    assert '"funnel" node attribute not set' in result["msg"]
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
    assert entries[443] == {"target": "http://127.0.0.1:8780", "funnel": True, "kind": "proxy", "http": False,
                            "detail": None}
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
    assert entries[443]["kind"] == "web" and entries[10000]["kind"] == "tcp"
    actions = util.plan(entries, {443: {"target": "http://127.0.0.1:8780", "funnel": True}}, {443, 10000})
    assert [util.command("tailscale", a)[1:] for a in actions] == [
        ["serve", "--yes", "--https=443", "off"],
        ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"],
        ["serve", "--tcp=10000", "off"],
    ]


def run_fake(tmp_path, monkeypatch, serve, *argv, env=None):
    state = str(tmp_path / "fake-state.json")
    tailscale_cli.write_state(state, serve=serve)
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", state)
    binary = tailscale_cli.install(tmp_path)
    proc = subprocess.run([binary] + list(argv), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, **(env or {})))
    with open(state, encoding="utf-8") as handle:
        return proc, json.load(handle)["serve"]


def test_the_fake_cli_parses_flags_like_go_flag(tmp_path, monkeypatch):
    # Go's flag package stops at the first non-flag argument: `off --yes` is two positionals, refused.
    proc, serve = run_fake(tmp_path, monkeypatch, fixture("serve_configured.json"), "serve", "--https=443", "off", "--yes")
    assert proc.returncode == 1 and "invalid argument format" in proc.stderr
    assert serve == fixture("serve_configured.json")
    proc, serve = run_fake(tmp_path, monkeypatch, fixture("serve_configured.json"), "funnel", "--http=80", "3000")
    assert proc.returncode == 1 and "flag provided but not defined: -http" in proc.stderr


def test_the_fake_cli_funnel_verb_without_capability_exits_0_and_changes_nothing(tmp_path, monkeypatch):
    state = str(tmp_path / "fake-state.json")
    tailscale_cli.write_state(state, caps=["https"], serve=fixture("serve_configured.json"))
    monkeypatch.setenv("FAKE_TAILSCALE_STATE", state)
    proc = subprocess.run([tailscale_cli.install(tmp_path), "funnel", "--https=443", "off"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and tailscale_cli.FEATURE_URL in proc.stdout
    with open(state, encoding="utf-8") as handle:
        assert json.load(handle)["serve"] == fixture("serve_configured.json")


def test_the_fake_cli_status_has_the_upstream_shape(tmp_path, monkeypatch):
    proc, _serve = run_fake(tmp_path, monkeypatch, {}, "status", "--json")
    status = json.loads(proc.stdout)
    recorded = fixture("status_funnel_allowed.json")
    assert set(status) <= set(recorded) and set(status["Self"]) <= set(recorded["Self"])
    assert status["Self"]["Capabilities"][0] == recorded["Self"]["Capabilities"][0]
    assert status["Self"]["CapMap"] == recorded["Self"]["CapMap"]
    proc, _serve = run_fake(tmp_path, monkeypatch, {}, "ip")
    assert proc.stdout.split() == recorded["TailscaleIPs"]


# ------------------------------------------------------------------ coexisting with the owner's serve config
# serve_foreign.json: the owner's app funnelled on 10000 and a tailnet TCP forward on 5432, set up before the
# collection arrived (shapes: ipn/serve.go ServeConfig, TCPPortHandler, HTTPHandler at tailscale v1.102.3,
# commit 53a0d659afa51835dd7a9283873cca44261454f8).
FOREIGN_PORTS = {"10000", "5432"}


def foreign_part(serve):
    """The owner's entries of a ServeConfig: everything keyed by a port in FOREIGN_PORTS."""
    return {
        "TCP": dict((p, v) for p, v in (serve.get("TCP") or {}).items() if p in FOREIGN_PORTS),
        "Web": dict((k, v) for k, v in (serve.get("Web") or {}).items() if k.rsplit(":", 1)[1] in FOREIGN_PORTS),
        "AllowFunnel": dict((k, v) for k, v in (serve.get("AllowFunnel") or {}).items()
                            if k.rsplit(":", 1)[1] in FOREIGN_PORTS),
    }


def with_foreign_443(serve):
    """The owner's app already funnelled on 443, the port the collection's API needs."""
    serve = json.loads(json.dumps(serve))
    serve.setdefault("TCP", {})["443"] = {"HTTPS": True}
    serve.setdefault("Web", {})[HOST + ":443"] = {"Handlers": {"/": {"Proxy": "http://127.0.0.1:3000"}}}
    serve.setdefault("AllowFunnel", {})[HOST + ":443"] = True
    return serve


def coexist_args(ts, tmp_path, **extra):
    """The role's call: no managed_ports beyond serve, and a ledger of what the collection set."""
    args = {"host": HOST, "serve": WANT, "tailscale_bin": ts.bin, "state_file": str(tmp_path / "serve-ledger.json")}
    args.update(extra)
    return args


def test_foreign_ports_survive_converging_our_own(node, run_module, tmp_path):
    ts = node(serve="serve_foreign.json")
    owner = foreign_part(ts.state["serve"])
    result = run_module(tailscale_serve, coexist_args(ts, tmp_path))
    assert result.get("failed") is not True, result.get("msg")
    assert ts.changing_calls() == [
        ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"],
        ["funnel", "--bg", "--yes", "--https=8443", "http://127.0.0.1:8781"],
    ]
    assert foreign_part(ts.state["serve"]) == owner
    assert result["unmanaged_ports"] == [5432, 10000]
    again = run_module(tailscale_serve, coexist_args(ts, tmp_path))
    assert again["changed"] is False and again["commands"] == []


def test_a_foreign_handler_on_a_port_we_need_stops_before_any_change(node, run_module, tmp_path):
    ts = node(serve="serve_foreign.json")
    tailscale_cli.write_state(ts.state_path, serve=with_foreign_443(ts.state["serve"]))
    before = ts.state["serve"]
    for check_mode in (True, False):
        result = run_module(tailscale_serve, coexist_args(ts, tmp_path), check_mode=check_mode)
        assert result["failed"] is True
        assert "port 443" in result["msg"] and "proxy http://127.0.0.1:3000" in result["msg"], result["msg"]
        assert "takeover_ports" in result["msg"] and "caddy_tailscale_serve_takeover_ports" in result["msg"]
    assert ts.changing_calls() == []
    assert ts.state["serve"] == before
    assert not (tmp_path / "serve-ledger.json").exists()


def test_a_foreign_handler_on_a_port_caddy_serves_stops_too(node, run_module, tmp_path):
    # managed_ports: Caddy's own port on the node's name (the dashboard's 8444); a serve handler there shadows it.
    ts = node(serve="serve_foreign.json")
    serve = ts.state["serve"]
    serve["TCP"]["8444"] = {"TCPForward": "127.0.0.1:6000"}
    tailscale_cli.write_state(ts.state_path, serve=serve)
    result = run_module(tailscale_serve, coexist_args(ts, tmp_path, managed_ports=[8444]))
    assert result["failed"] is True
    assert "port 8444" in result["msg"] and "TCP forward to 127.0.0.1:6000" in result["msg"], result["msg"]
    assert ts.changing_calls() == []


def test_takeover_is_opt_in_per_port(node, run_module, tmp_path):
    ts = node(serve="serve_foreign.json")
    tailscale_cli.write_state(ts.state_path, serve=with_foreign_443(ts.state["serve"]))
    owner = foreign_part(ts.state["serve"])
    checked = run_module(tailscale_serve, coexist_args(ts, tmp_path, takeover_ports=[443]), check_mode=True, diff=True)
    assert checked["changed"] is True and ts.changing_calls() == []
    assert checked["taken_over"] == [443]
    result = run_module(tailscale_serve, coexist_args(ts, tmp_path, takeover_ports=[443]))
    assert result["commands"] == checked["commands"]
    assert ts.changing_calls() == [
        ["funnel", "--bg", "--yes", "--https=443", "http://127.0.0.1:8780"],
        ["funnel", "--bg", "--yes", "--https=8443", "http://127.0.0.1:8781"],
    ]
    assert ts.state["serve"]["Web"][HOST + ":443"] == {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8780"}}}
    assert foreign_part(ts.state["serve"]) == owner
    # Once taken over, the port is the collection's: no takeover needed to keep it.
    assert run_module(tailscale_serve, coexist_args(ts, tmp_path))["changed"] is False


def test_removal_takes_only_what_the_collection_set(node, run_module, tmp_path):
    ts = node(serve="serve_foreign.json")
    assert run_module(tailscale_serve, coexist_args(ts, tmp_path))["changed"] is True
    owner = foreign_part(ts.state["serve"])
    # Someone else has since put their own handler on 8443; the collection then drops its funnel sites.
    serve = ts.state["serve"]
    serve["Web"][HOST + ":8443"] = {"Handlers": {"/": {"Proxy": "http://127.0.0.1:4000"}}}
    tailscale_cli.write_state(ts.state_path, serve=serve)
    calls_before = len(ts.changing_calls())
    result = run_module(tailscale_serve, coexist_args(ts, tmp_path, serve=[]))
    assert result.get("failed") is not True, result.get("msg")
    assert ts.changing_calls()[calls_before:] == [["serve", "--yes", "--https=443", "off"]]
    warnings = " ".join(str(w) for w in result["warnings"])
    assert "port 8443" in warnings and "http://127.0.0.1:4000" in warnings, warnings
    after = ts.state["serve"]
    assert foreign_part(after) == owner
    assert after["Web"][HOST + ":8443"] == {"Handlers": {"/": {"Proxy": "http://127.0.0.1:4000"}}}
    assert HOST + ":443" not in after["Web"]
    assert run_module(tailscale_serve, coexist_args(ts, tmp_path, serve=[]))["changed"] is False


def test_the_fake_models_a_foreign_handler_like_the_recorded_fixture(tmp_path):
    # foreign_serve() and the `seed` entry point must give what the owner's own commands leave behind.
    built = tailscale_cli.foreign_serve(HOST, web={10000: ("3000", True)}, tcp={5432: "127.0.0.1:5432"})
    assert built == fixture("serve_foreign.json")
    state = tmp_path / "seeded.json"
    proc = subprocess.run([sys.executable, tailscale_cli.__file__, "seed", str(state), HOST, "--web",
                           "10000=3000,funnel", "--tcp", "5432=127.0.0.1:5432"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    wrapper = tailscale_cli.install(tmp_path, state=str(state))
    out = subprocess.run([wrapper, "serve", "status", "--json"], capture_output=True, text=True, check=True,
                         env=dict((k, v) for k, v in os.environ.items() if k != "FAKE_TAILSCALE_STATE")).stdout
    assert json.loads(out) == fixture("serve_foreign.json")
