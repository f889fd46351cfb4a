# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""https_origin: the origin URL of a public endpoint ({host, port}), port omitted when 443."""
from __future__ import absolute_import, annotations, division, print_function

from ansible.errors import AnsibleFilterError


def https_origin(endpoint):
    if not isinstance(endpoint, dict) or not endpoint.get("host"):
        raise AnsibleFilterError(
            "https_origin expects an endpoint like {host: macmini.example-tailnet.ts.net, port: 443}, got %r"
            % (endpoint,)
        )
    try:
        port = int(endpoint.get("port", 443))
    except (TypeError, ValueError):
        raise AnsibleFilterError("https_origin: port=%r of %s is not a number" % (endpoint.get("port"), endpoint["host"]))
    host = str(endpoint["host"]).lower()
    return "https://%s" % host if port == 443 else "https://%s:%d" % (host, port)


class FilterModule(object):
    def filters(self):
        return {"https_origin": https_origin}
