# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.joelclaw.macmini.plugins.filter.https_origin import https_origin


def test_port_443_is_left_out():
    assert https_origin({"host": "MacMini.example-tailnet.ts.net", "port": 443}) == "https://macmini.example-tailnet.ts.net"


def test_other_ports_are_kept_even_as_strings():
    assert https_origin({"host": "a.ts.net", "port": "8443"}) == "https://a.ts.net:8443"


@pytest.mark.parametrize("bad", [None, {}, {"host": ""}, {"host": "a.ts.net", "port": "https"}])
def test_bad_endpoints_are_refused(bad):
    with pytest.raises(AnsibleFilterError):
        https_origin(bad)
