# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.joelclaw.macmini.plugins.module_utils._tailscale_access import assess


def probe(**overrides):
    base = {
        "user": "joel", "uid": "501", "user_groups": ["staff"], "standalone": False,
        "oss_socket": False, "app_bundle": False, "console_user": "joel", "permit_cert_uid": None,
    }
    base.update(overrides)
    return base


def test_standalone_app_needs_admin_group():
    assert assess(probe(standalone=True, user_groups=["staff", "admin"]))[:2] == ("standalone", True)
    variant, ok, message = assess(probe(standalone=True))
    assert (variant, ok) == ("standalone", False)
    assert "admin group" in message and "joel" in message


def test_open_source_daemon_needs_admin_or_permit_cert_uid():
    assert assess(probe(oss_socket=True, user_groups=["admin"]))[1] is True
    assert assess(probe(oss_socket=True, permit_cert_uid="joel"))[1] is True
    assert assess(probe(oss_socket=True, permit_cert_uid="501"))[1] is True
    variant, ok, message = assess(probe(oss_socket=True))
    assert not ok and "TS_PERMIT_CERT_UID=joel" in message


def test_app_store_app_needs_the_same_user_as_the_gui():
    assert assess(probe(app_bundle=True))[:2] == ("app-store", True)
    variant, ok, message = assess(probe(app_bundle=True, console_user="mia"))
    assert not ok and "mia" in message and "standalone" in message


def test_standalone_wins_over_an_app_bundle_on_disk():
    # The standalone app also installs /Applications/Tailscale.app.
    assert assess(probe(standalone=True, app_bundle=True, user_groups=["admin"], console_user="mia"))[0] == "standalone"


def test_no_tailscale_at_all_is_refused_with_alternatives():
    variant, ok, message = assess(probe())
    assert (variant, ok) == ("none", False)
    assert "tls: acme" in message
