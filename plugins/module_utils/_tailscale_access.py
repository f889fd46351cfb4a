# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Can a given macOS user fetch TLS certificates from tailscaled?

Caddy's tailscale certificate manager talks to tailscaled the way the tscert library does:
  1. Mac App Store app: finds the IPNExtension's same-user proof with lsof *as its own uid*,
     so Caddy must run as the user running the Tailscale GUI.
  2. Standalone app ("macsys"): reads /Library/Tailscale/ipnport and sameuserproof-<port>,
     written 0640 root:admin, so Caddy's user must be root or in the admin group.
  3. Open-source tailscaled (Homebrew formula): the unix socket /var/run/tailscaled.socket;
     certificates need write access (root, the operator, macOS admin-group members) or
     TS_PERMIT_CERT_UID set to Caddy's user in tailscaled's environment.
"""
from __future__ import absolute_import, annotations, division, print_function

STANDALONE_PORT_LINK = "/Library/Tailscale/ipnport"
OSS_SOCKET = "/var/run/tailscaled.socket"
APP_BUNDLE = "/Applications/Tailscale.app"


def assess(probe):
    """Return (variant, ok, message) from a dict of facts about the host.

    probe keys: user, user_groups (list), standalone (bool), oss_socket (bool),
    app_bundle (bool), console_user (str or None), permit_cert_uid (str or None).
    """
    user = probe["user"]
    privileged = user == "root" or "admin" in probe["user_groups"]
    if probe["standalone"]:
        if privileged:
            return "standalone", True, "standalone Tailscale app; %s may read its same-user proof" % user
        return "standalone", False, (
            "the standalone Tailscale app lets only root and admin-group members read "
            "/Library/Tailscale/sameuserproof-*, and %s is neither: Caddy could not fetch certificates. "
            "Run Caddy as an admin user (the user that runs brew services) or add %s to the admin group" % (user, user)
        )
    if probe["oss_socket"]:
        permitted = probe.get("permit_cert_uid") in (user, probe.get("uid"))
        if privileged or permitted:
            return "open-source", True, "open-source tailscaled; %s may fetch certificates over its socket" % user
        return "open-source", False, (
            "open-source tailscaled gives certificates over %s only to root, its operator, admin-group "
            "members, or the uid in TS_PERMIT_CERT_UID; %s is none of these. Set TS_PERMIT_CERT_UID=%s "
            "in tailscaled's environment (then set caddy_tailscale_check_tailscale_access: false) "
            "or run Caddy as an admin user" % (OSS_SOCKET, user, user)
        )
    if probe["app_bundle"]:
        console = probe.get("console_user")
        if console == user:
            return "app-store", True, "Mac App Store Tailscale runs as %s, the same user as Caddy" % user
        return "app-store", False, (
            "the Mac App Store Tailscale app hands certificates only to processes of the user running it "
            "(logged-in user: %s), but Caddy would run as %s. Converge as %s, or install the standalone "
            "Tailscale app, which serves admin-group users" % (console or "nobody", user, console or "that user")
        )
    return "none", False, (
        "no tailscaled found (%s, %s and %s are all missing): tls: tailscale sites cannot get "
        "certificates. Install and log in to Tailscale with HTTPS certificates enabled for the tailnet, "
        "or use tls: acme / internal" % (APP_BUNDLE, STANDALONE_PORT_LINK, OSS_SOCKET)
    )
