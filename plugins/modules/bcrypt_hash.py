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
  - Pure computation, no files. An action plugin of the same name runs it on the controller, where the
    C(bcrypt) library is installed (the collection's requirements), so nothing is sent to the host.
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
  - joelclaw.macmini.attributes.controller
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.joelclaw.macmini.plugins.module_utils._bcrypt_hash import (
    ARGUMENT_SPEC,
    BCRYPT_IMPORT_ERROR,
    HashError,
    stable_hash,
)


def main():
    # Runs only where the action plugin of the same name (plugins/action/bcrypt_hash.py, which hashes on the
    # controller with the same code) is bypassed.
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if BCRYPT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("bcrypt"), exception=BCRYPT_IMPORT_ERROR)
    try:
        digest, reused = stable_hash(module.params)
    except HashError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=not reused, hash=digest, reused=reused)


if __name__ == "__main__":
    main()
