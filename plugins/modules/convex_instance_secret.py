#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: convex_instance_secret
short_description: Resolve the Convex INSTANCE_SECRET once and keep it stable across runs
version_added: 0.1.0
description:
  - Decides which Convex C(INSTANCE_SECRET) a deployment uses, in this order
    O(secret) (a vaulted value), O(existing) (the value read back from the cluster's Secret),
    the value stored in O(state_file), and only when none of them exists a newly generated
    32-byte secret (64 lowercase hex characters).
  - The chosen value is written to O(state_file) (mode 0600) when it is not already there, so a
    later run without cluster access (render mode) or after the cluster Secret is lost reuses it.
  - Rotating the secret invalidates every admin key, so when two sources disagree the module
    fails unless O(allow_rotation=true); then the higher-priority source wins.
  - Every value is validated as 64 hex characters; errors name the source, never the value.
author:
  - Joel Hooks (@joelhooks)
options:
  secret:
    description:
      - An explicit secret, usually from a vault. Empty means "not given".
    type: str
    default: ""
  existing:
    description:
      - The secret currently stored in the cluster (already base64-decoded). Empty means none.
    type: str
    default: ""
  state_file:
    description:
      - File on the target that keeps the secret between runs. Created with mode 0600; its
        directory must exist.
    type: path
    required: true
  allow_rotation:
    description:
      - Allow a value that differs from the one in the cluster or in O(state_file). Every admin key
        issued before becomes invalid.
    type: bool
    default: false
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: Resolves (and, with nothing to reuse, generates) the secret but does not write O(state_file).
  diff_mode:
    support: none
    details: No diff; the only content is the secret itself.
notes:
  - Run the task with C(no_log=true); RV(instance_secret_b64) is the secret itself, base64-encoded.
  - The value is returned base64-encoded because Ansible masks any return value equal to a C(no_log)
    parameter (O(secret), O(existing)); base64 is also what a Kubernetes Secret's C(data) holds.
"""

EXAMPLES = r"""
- name: Resolve the instance secret without ever rotating it.
  joelclaw.macmini.convex_instance_secret:
    secret: "{{ vault_convex_instance_secret | default('') }}"
    existing: "{{ cluster_secret.resources[0].data['instance-secret'] | b64decode if cluster_secret.resources else '' }}"
    state_file: /var/lib/joelclaw/.joelclaw/convex-instance-secret
  register: instance_secret
  no_log: true
"""

RETURN = r"""
instance_secret_b64:
  description:
    - The secret to use (64 lowercase hex characters), base64-encoded.
    - Decode it with C(ansible.builtin.b64decode) where the hex form is needed.
  returned: success
  type: str
source:
  description: Where the secret came from.
  returned: success
  type: str
  choices: [secret, existing, state_file, generated]
state_file_written:
  description: Whether O(state_file) was (or in check mode would be) written.
  returned: success
  type: bool
"""

import base64
import os
import re
import secrets

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.joelclaw.macmini.plugins.module_utils._private_file import write_private
from ansible_collections.joelclaw.macmini.plugins.module_utils._secret_result import require_no_log

HEX64 = re.compile(r"^[0-9a-fA-F]{64}\Z")


def check_secret(module, value, source):
    """Fail unless value is 64 hex characters; return it lower-cased. The message never shows the value."""
    if not HEX64.match(value):
        module.fail_json(
            msg="The Convex instance secret from %s is %d characters and %s; expected exactly 64 hex "
            "characters (32 bytes). Generate one with `openssl rand -hex 32`." % (
                source, len(value), "not all hex" if re.search(r"[^0-9a-fA-F]", value) else "all hex"
            )
        )
    return value.lower()


def read_state_file(module, path):
    if not os.path.exists(path):
        return ""
    try:
        with open(path, "r", encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="Cannot read state_file %s (the instance secret state file): %s" % (path, exc))
    return ""


def write_state_file(module, path, value):
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg="The directory of state_file %s does not exist; create it (mode 0700) first." % path)
    try:
        write_private(path, value + "\n", create_dir=False)
    except OSError as exc:
        module.fail_json(msg="Cannot write state_file %s (the instance secret state file): %s" % (path, exc))


def resolve(module, given, existing, stored, allow_rotation):
    """Return (value, source) following the documented priority, refusing silent rotation."""
    candidates = [(name, value) for name, value in (("secret", given), ("existing", existing), ("state_file", stored)) if value]
    if not candidates:
        return secrets.token_hex(32), "generated"
    chosen_name, chosen = candidates[0]
    if not allow_rotation:
        for name, value in candidates[1:]:
            if value != chosen:
                module.fail_json(
                    msg="The Convex instance secret from %s differs from the one in %s. Changing it invalidates "
                    "every admin key. Set convex_backend_instance_secret to the value in %s, or set "
                    "convex_backend_instance_secret_allow_rotation: true to rotate on purpose." % (chosen_name, name, name)
                )
    return chosen, chosen_name


def main():
    module = AnsibleModule(
        argument_spec=dict(
            secret=dict(type="str", default="", no_log=True),
            existing=dict(type="str", default="", no_log=True),
            state_file=dict(type="path", required=True),
            allow_rotation=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    require_no_log(module, "the instance secret (instance_secret_b64)")
    params = module.params
    state_file = params["state_file"]
    given = check_secret(module, params["secret"].strip(), "secret (convex_backend_instance_secret)") if params["secret"].strip() else ""
    existing = check_secret(module, params["existing"].strip(), "existing (the cluster Secret)") if params["existing"].strip() else ""
    stored = read_state_file(module, state_file)
    if stored:
        stored = check_secret(module, stored, "state_file %s" % state_file)

    value, source = resolve(module, given, existing, stored, params["allow_rotation"])

    write = stored != value
    if write and not module.check_mode:
        write_state_file(module, state_file, value)
    if not write and not module.check_mode and (os.stat(state_file).st_mode & 0o777) != 0o600:
        # A secret file readable by others is a finding; tighten it and report the change.
        os.chmod(state_file, 0o600)
        write = True
    encoded = base64.b64encode(value.encode("ascii")).decode("ascii")
    module.exit_json(changed=write, instance_secret_b64=encoded, source=source, state_file_written=write)


if __name__ == "__main__":
    main()
