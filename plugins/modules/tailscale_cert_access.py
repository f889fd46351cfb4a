#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tailscale_cert_access
short_description: Check that a macOS user may fetch TLS certificates from tailscaled
version_added: 0.1.0
description:
  - Finds which Tailscale variant runs on the Mac (Mac App Store app, standalone app, or the
    open-source C(tailscaled)) and decides whether O(user) can fetch certificates from it,
    the way Caddy's C(get_certificate tailscale) does.
  - Fails with a message that says what to change when it cannot work.
  - Reads only; makes no changes.
author:
  - Joel Hooks (@joelhooks)
options:
  user:
    description: The user Caddy runs as. Defaults to the user running the module.
    type: str
  permit_cert_uid:
    description:
      - The value of C(TS_PERMIT_CERT_UID) in the open-source tailscaled's environment, if you set it.
        That environment cannot be read from here.
    type: str
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
notes:
  - macOS only.
"""

EXAMPLES = r"""
- name: Check that the user Caddy runs as may fetch certificates from tailscaled.
  joelclaw.macmini.tailscale_cert_access:
    user: joel
"""

RETURN = r"""
variant:
  description: The Tailscale flavour found (app-store, standalone, open-source, none).
  returned: always
  type: str
  sample: standalone
message:
  description: Why Caddy can or cannot fetch certificates.
  returned: always
  type: str
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.joelclaw.macmini.plugins.module_utils._tailscale_access import (
    APP_BUNDLE,
    OSS_SOCKET,
    STANDALONE_PORT_LINK,
    assess,
)


def user_groups(user):
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None, []
    names = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    try:
        names.append(grp.getgrgid(entry.pw_gid).gr_name)
    except KeyError:
        pass
    return entry.pw_uid, names


def console_user():
    try:
        return pwd.getpwuid(os.stat("/dev/console").st_uid).pw_name
    except (OSError, KeyError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str"),
            permit_cert_uid=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    user = module.params["user"] or pwd.getpwuid(os.geteuid()).pw_name
    uid, groups = user_groups(user)
    if uid is None:
        module.fail_json(msg="user=%r does not exist on this host; set it to the user Caddy runs as" % user)
    variant, ok, message = assess({
        "user": user,
        "uid": str(uid),
        "user_groups": groups,
        "standalone": os.path.lexists(STANDALONE_PORT_LINK),
        "oss_socket": os.path.exists(OSS_SOCKET),
        "app_bundle": os.path.isdir(APP_BUNDLE),
        "console_user": console_user(),
        "permit_cert_uid": module.params["permit_cert_uid"],
    })
    if not ok:
        module.fail_json(msg=message, variant=variant)
    module.exit_json(changed=False, variant=variant, message=message)


if __name__ == "__main__":
    main()
