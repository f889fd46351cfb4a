# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The power_cut verdict for each combination in force (docs/power-cut.md, "What comes back"): FileVault on/off,
an auto-login user or none, which components are LaunchDaemons and which LaunchAgents, and the Tailscale variant."""
from __future__ import absolute_import, annotations, division, print_function

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _preflight as pf

ALL = ["colima_talos", "caddy", "convex_backup", "convex_health_schedule"]


def verdict(filevault, login, agents, daemons, variant=None):
    probes = {p["name"]: p for p in pf.check_power_cut(filevault, login, 1, agents, daemons, variant)}
    return probes


@pytest.mark.parametrize("filevault, login, agents, daemons, variant, status, words, absent", [
    # FileVault off, auto-login: everything comes back; daemons at boot, the agents at the login.
    ("off", "joel", [], ALL, None, "ok",
     ["LaunchDaemons start at boot without a login: colima_talos, caddy, convex_backup, convex_health_schedule",
      "LaunchAgents start: none"], []),
    ("off", "joel", ["caddy"], ["colima_talos"], None, "ok",
     ["LaunchDaemons start at boot without a login: colima_talos", "logs joel in", "LaunchAgents start: caddy"], []),
    # FileVault off, no auto-login: daemons only is the whole stack (the point of the daemons)...
    ("off", None, [], ALL, "open-source", "ok", ["LaunchDaemons start at boot without a login"], ["log in"]),
    # ...unless Tailscale is the App Store app, which connects only in a session.
    ("off", None, [], ALL, "app-store", "warn", ["App Store Tailscale app connects only at a login"], []),
    # ...and agents kept by choice wait for a login.
    ("off", None, ["colima_talos", "caddy"], ["convex_backup"], None, "warn",
     ["LaunchDaemons start at boot without a login: convex_backup", "colima_talos, caddy wait for someone to log in",
      "launchd_domain: system"], []),
    # Today's agents everywhere (every role set to user).
    ("off", None, ALL, [], None, "warn", ["no LaunchDaemon", "wait for someone to log in"], []),
    # FileVault on: nothing before the unlock; then daemons without a login, agents at one.
    ("on", None, [], ALL, None, "warn",
     ["until someone unlocks FileVault", "LaunchDaemons start without a login: colima_talos",
      "everything starts without a login"], []),
    ("on", None, ["caddy"], ["colima_talos", "convex_backup"], "app-store", "warn",
     ["until someone unlocks FileVault", "caddy start only at a login", "App Store Tailscale app"], []),
    # FileVault unknown: no claim.
    (None, None, [], ALL, None, "warn", ["FileVault state unknown"], []),
])
def test_power_cut_line_per_combination(filevault, login, agents, daemons, variant, status, words, absent):
    probe = verdict(filevault, login, agents, daemons, variant)["power_cut"]
    assert probe["status"] == status, probe
    assert probe["value"] == "FileVault %s, auto-login %s" % (filevault or "unknown", login or "none")
    for word in words:
        assert word in probe["hint"], (word, probe["hint"])
    for word in absent:
        assert word not in probe["hint"], (word, probe["hint"])


def test_auto_login_warns_only_when_an_agent_needs_it():
    assert verdict("off", None, [], ALL)["auto_login"]["status"] == "ok"
    probe = verdict("off", None, ["caddy"], ["colima_talos"])["auto_login"]
    assert probe["status"] == "warn" and "LaunchAgents start only in one" in probe["hint"]


@pytest.mark.parametrize("variant, login, status", [
    ("open-source", None, "ok"), ("standalone", None, "ok"), ("app-store", None, "warn"), ("app-store", "joel", "ok"),
])
def test_tailscale_variant_is_reported_where_known(variant, login, status):
    probe = verdict("off", login, [], ALL, variant)["tailscale_variant"]
    assert probe["status"] == status and probe["value"] == pf.TAILSCALE_VARIANTS[variant]
    assert "tailscale_variant" not in verdict("off", login, [], ALL, None)
