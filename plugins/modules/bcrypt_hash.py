#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bcrypt_hash
short_description: Give a stable bcrypt hash for a password, reusing a previous hash that still matches
version_added: 0.1.0
description:
  - Returns a bcrypt hash (Modular Crypt Format, C($2b$...)) of O(password) for Caddy's C(basic_auth).
  - When O(existing_hash) is given and still matches O(password), it is returned unchanged, so
    re-running a play does not churn the hash (and the config file that holds it).
  - A new hash is made only when there is no usable previous hash or the password changed;
    C(changed) says which happened.
  - Pure computation, no files. Run it where the C(bcrypt) library is installed, usually the
    controller (C(delegate_to=localhost)).
author:
  - Joel Hooks (@joelhooks)
requirements:
  - bcrypt >= 4.0
options:
  password:
    description: The password to hash, at most 72 bytes (bcrypt ignores the rest).
    type: str
    required: true
  existing_hash:
    description: A hash made earlier; kept if it matches O(password).
    type: str
    default: ""
  cost:
    description: bcrypt cost factor for new hashes (4-31).
    type: int
    default: 12
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: Check mode computes the same hash decision; nothing is written anyway.
  diff_mode:
    support: none
    details: No files are changed, so there is nothing to diff.
"""

EXAMPLES = r"""
- name: Hash the dashboard password, keeping the previous hash when it still matches.
  joelclaw.macmini.bcrypt_hash:
    password: "{{ vault_dashboard_password }}"
    existing_hash: "{{ previous_hash | default('') }}"
  delegate_to: localhost
  register: dashboard_hash
"""

RETURN = r"""
hash:
  description: The bcrypt hash to use.
  returned: success
  type: str
  sample: "$2b$12$Jt1.vB2Y7uYEzvdWrCRJ0uhbNbHAo9nvyu1O8OPjcb1IsrLO8cyKi"
reused:
  description: Whether O(existing_hash) matched and was returned.
  returned: success
  type: bool
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import bcrypt
except ImportError:
    BCRYPT_IMPORT_ERROR = traceback.format_exc()
else:
    BCRYPT_IMPORT_ERROR = None

MAX_PASSWORD_BYTES = 72


def matches(password, existing_hash):
    """True when existing_hash is a well-formed bcrypt hash of password."""
    if not existing_hash or not existing_hash.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(password, existing_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            password=dict(type="str", required=True, no_log=True),
            existing_hash=dict(type="str", default="", no_log=False),
            cost=dict(type="int", default=12),
        ),
        supports_check_mode=True,
    )
    if BCRYPT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("bcrypt"), exception=BCRYPT_IMPORT_ERROR)
    cost = module.params["cost"]
    if not 4 <= cost <= 31:
        module.fail_json(msg="cost=%d is out of range; bcrypt accepts 4 to 31 (12 is a good default)" % cost)
    password = module.params["password"].encode("utf-8")
    if not password:
        module.fail_json(msg="password is empty; set a password or disable basic auth")
    if len(password) > MAX_PASSWORD_BYTES:
        module.fail_json(
            msg="password is longer than %d bytes, which bcrypt would silently truncate; "
            "use a shorter password" % MAX_PASSWORD_BYTES
        )
    existing = module.params["existing_hash"].strip()
    if matches(password, existing):
        module.exit_json(changed=False, hash=existing, reused=True)
    new_hash = bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost)).decode("ascii")
    module.exit_json(changed=True, hash=new_hash, reused=False)


if __name__ == "__main__":
    main()
