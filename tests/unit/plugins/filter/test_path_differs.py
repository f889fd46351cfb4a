# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.joelclaw.macmini.plugins.filter.path_differs import path_differs

UNIT = "[Unit]\nDescription=backup\n"
STATES = {
    "/etc/unit": {"exists": True, "type": "file", "mode": "0644", "owner": "root", "group": "root",
                  "checksum": hashlib.sha1(UNIT.encode()).hexdigest()},
    "/var/lib/job": {"exists": True, "type": "directory", "mode": "0700", "owner": "convex", "group": "staff"},
    "/usr/local/bin/caddy": {"exists": True, "type": "link", "mode": "0777", "owner": "root", "group": "root",
                             "target": "/opt/caddy/bin/caddy"},
    "/secret": {"exists": True, "type": "file", "mode": "0600", "owner": "root", "group": "root"},
    "/gone": {"exists": False, "type": "absent"},
}


@pytest.mark.parametrize("path, wanted", [
    ("/etc/unit", dict(mode="0644", content=UNIT, owner="root", group="root")),
    ("/etc/unit", dict(mode=0o644)),
    ("/etc/unit", dict(mode="644")),
    ("/etc/unit", {}),
    ("/var/lib/job", dict(type="directory", mode="0700", owner="convex")),
    ("/usr/local/bin/caddy", dict(type="link", target="/opt/caddy/bin/caddy")),
    ("/gone", dict(type="absent")),
])
def test_the_same_state_does_not_differ(path, wanted):
    assert path_differs(STATES, path, **wanted) is False


@pytest.mark.parametrize("path, wanted", [
    ("/etc/unit", dict(content=UNIT + "\n")),
    ("/etc/unit", dict(content=UNIT.rstrip("\n"))),
    ("/etc/unit", dict(mode="0640")),
    ("/etc/unit", dict(owner="caddy")),
    ("/etc/unit", dict(group="wheel")),
    ("/etc/unit", dict(type="directory")),
    ("/var/lib/job", dict(type="directory", mode="0750")),
    ("/var/lib/job", dict(type="file")),
    ("/usr/local/bin/caddy", dict(type="link", target="/opt/other/bin/caddy")),
    ("/usr/local/bin/caddy", dict(type="file")),
    # host_state could not read it: no checksum, so a wanted content always differs.
    ("/secret", dict(content="")),
    ("/gone", {}),
    ("/gone", dict(type="directory")),
    ("/etc/unit", dict(type="absent")),
])
def test_any_wanted_difference_differs(path, wanted):
    assert path_differs(STATES, path, **wanted) is True


@pytest.mark.parametrize("states, path, wanted, message", [
    (STATES, "/etc/unti", {}, "/etc/unti was not read by host_state"),
    (["/etc/unit"], "/etc/unit", {}, "expects the paths that joelclaw.macmini.host_state returned"),
    (STATES, "/etc/unit", dict(type="socket"), "type='socket'"),
    (STATES, "/etc/unit", dict(mode="u=rw"), "must be octal digits"),
    (STATES, "/etc/unit", dict(mode=True), "is not a mode"),
    (STATES, "/etc/unit", dict(mode="17777"), "out of range"),
    (STATES, "/var/lib/job", dict(type="directory", content="x"), "content is compared for type=file only"),
    (STATES, "/etc/unit", dict(target="/x"), "target is compared for type=link only"),
])
def test_a_wrong_call_fails_clearly(states, path, wanted, message):
    with pytest.raises(AnsibleFilterError, match=".*".join(map(__import__("re").escape, [message]))):
        path_differs(states, path, **wanted)
