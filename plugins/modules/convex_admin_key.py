#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_admin_key
short_description: Compute, verify and store a self-hosted Convex admin key
version_added: 0.1.0
description:
  - Computes an admin key for a self-hosted Convex backend from its C(INSTANCE_NAME) and
    C(INSTANCE_SECRET), with the backend's own algorithm (KBKDF-CTR-HMAC-SHA256 and
    AES-128-GCM-SIV), in Python; no backend container or C(generate_key) binary is needed.
  - Optionally checks the key live with C(GET /api/check_admin_key) and that the backend's
    C(/instance_name) is O(instance_name).
  - Optionally writes the key, mode 0600, as an env file the Convex CLI reads
    (C(CONVEX_SELF_HOSTED_URL), C(CONVEX_SELF_HOSTED_ADMIN_KEY)). A key already in that file
    that is still valid for this name and secret is kept, so an unchanged file is never
    rewritten and keys are not reissued on every run.
author:
  - Joel Hooks (@joelhooks)
requirements:
  - cryptography >= 42 on the managed host (for C(AESGCMSIV); the PyPI wheels bundle a new
    enough OpenSSL)
options:
  instance_name:
    description:
      - The backend's C(INSTANCE_NAME); it becomes the key's prefix before C(|).
    type: str
    required: true
  instance_secret:
    description:
      - The backend's C(INSTANCE_SECRET), exactly 64 hex characters (32 bytes).
      - Surrounding whitespace (a trailing newline from a file) is ignored.
    type: str
    required: true
  url:
    description:
      - The backend's API origin (C(CONVEX_CLOUD_ORIGIN) or a local port), without a path.
      - Needed for O(verify) and O(env_file).
    type: str
  verify:
    description:
      - Check the key against the live backend before returning or writing it.
      - Defaults to V(true) when O(url) is set, else V(false).
    type: bool
  env_file:
    description:
      - Write C(CONVEX_SELF_HOSTED_URL) and C(CONVEX_SELF_HOSTED_ADMIN_KEY) to this file,
        mode 0600, atomically. Its parent directory is created (0700) if missing.
      - Pass it to the CLI with C(npx convex ... --env-file PATH) or source it.
    type: path
  timeout:
    description: Seconds to wait for each HTTP request of the live check.
    type: float
    default: 10
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.convex.tls
attributes:
  check_mode:
    support: full
    details: The live check runs (it only reads); the env file is not written.
  diff_mode:
    support: full
    details: The diff shows the URL line; the key itself is always shown as a placeholder.
notes:
  - The returned RV(admin_key) is a full admin credential. Register it only in tasks that
    set C(no_log=true).
  - Keys carry no expiry; a key stays valid until C(INSTANCE_SECRET) or C(INSTANCE_NAME) change.
seealso:
  - module: joelclaw.macmini.convex_env
  - module: joelclaw.macmini.convex_health
"""

EXAMPLES = r"""
- name: Ensure the Convex CLI env file holds a working admin key.
  joelclaw.macmini.convex_admin_key:
    instance_name: "{{ convex_instance_name }}"
    instance_secret: "{{ convex_instance_secret }}"
    url: http://127.0.0.1:3210
    env_file: "{{ convex_admin_key_env_file }}"
  no_log: true
  register: convex_key

- name: Compute a key without any network access.
  joelclaw.macmini.convex_admin_key:
    instance_name: joelclaw
    instance_secret: "{{ convex_instance_secret }}"
  no_log: true
  register: convex_offline_key
"""

RETURN = r"""
admin_key:
  description:
    - The admin key, C(<instance_name>|<74 hex characters>). A credential; use C(no_log).
  returned: success
  type: str
verified:
  description: Whether the backend accepted the key with C(GET /api/check_admin_key).
  returned: always
  type: bool
env_file_changed:
  description: Whether O(env_file) was (or in check mode would be) written.
  returned: always
  type: bool
key_reused:
  description: Whether the key was taken from O(env_file) because it is still valid.
  returned: success
  type: bool
backend_instance_name:
  description: The backend's C(/instance_name), when the live check ran.
  returned: when verified
  type: str
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file as env_file_reader
from ansible_collections.joelclaw.macmini.plugins.module_utils._private_file import write_private
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_admin_key import (
    AdminKeyError, check_instance_name, crypto_missing, issue_admin_key, key_is_valid_for, parse_secret)
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import connect, tls_argument_spec
from ansible_collections.joelclaw.macmini.plugins.module_utils._secret_result import require_no_log

URL_VAR = env_file_reader.URL
KEY_VAR = env_file_reader.ADMIN_KEY
HEADER = "# Managed by Ansible (joelclaw.macmini.convex_admin_key). Read by the Convex CLI.\n"


def render_env_file(url, admin_key):
    return "%s%s=%s\n%s=%s\n" % (HEADER, URL_VAR, url, KEY_VAR, admin_key)


def shown(url, key_note):
    return "%s=%s\n%s=<%s>\n" % (URL_VAR, url, KEY_VAR, key_note)


def main():
    module = AnsibleModule(
        argument_spec=tls_argument_spec(
            instance_name=dict(type="str", required=True),
            instance_secret=dict(type="str", required=True, no_log=True),
            url=dict(type="str"),
            verify=dict(type="bool"),
            env_file=dict(type="path"),
            timeout=dict(type="float", default=10),
        ),
        required_by={"env_file": "url"},
        supports_check_mode=True,
    )
    require_no_log(module, "the Convex admin key")
    params = module.params
    result = dict(changed=False, verified=False, env_file_changed=False)
    missing = crypto_missing()
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1], **result)
    name, secret, url, env_file = params["instance_name"], params["instance_secret"], params["url"], params["env_file"]
    verify = params["verify"] if params["verify"] is not None else bool(url)
    if verify and not url:
        module.fail_json(msg="verify=true needs url: give the backend's API origin, e.g. http://127.0.0.1:3210", **result)
    try:
        check_instance_name(name)
        parse_secret(secret)
    except AdminKeyError as exc:
        module.fail_json(msg=str(exc), **result)

    existing, existing_text = (None, None)
    if env_file:
        try:
            existing, existing_text = env_file_reader.read(env_file)
        except (OSError, UnicodeDecodeError) as exc:
            module.fail_json(msg="cannot read env_file %s: %s" % (env_file, exc), **result)
    old_key = (existing or {}).get(KEY_VAR)
    key_reused = bool(old_key) and key_is_valid_for(old_key, name, secret)
    admin_key = old_key if key_reused else issue_admin_key(name, secret)

    client = None
    if url:
        client = connect(module, params["timeout"], admin_key=admin_key, instance_name=name)
    if verify:
        try:
            live_name = client.instance_name_live()
            result["backend_instance_name"] = live_name
            if live_name != name:
                module.fail_json(msg="the backend at %s is instance %r, not %r: instance_name must equal the "
                                     "backend's INSTANCE_NAME (or url points at another deployment)."
                                     % (client.url, live_name, name), **result)
            client.check_admin_key()
        except ConvexError as exc:
            module.fail_json(msg=exc.message, error=exc.to_dict(), **result)
        result["verified"] = True

    if env_file:
        wanted = render_env_file(client.url, admin_key)
        mode_ok = existing_text is not None and stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
        if existing_text != wanted or not mode_ok:
            result["env_file_changed"] = result["changed"] = True
            if module._diff:
                result["diff"] = dict(
                    before_header=env_file, after_header=env_file,
                    before="" if existing is None else shown(existing.get(URL_VAR, ""), "admin key, kept" if key_reused else (
                        "old admin key" if old_key else "none")),
                    after=shown(client.url, "admin key for %s, kept" % name if key_reused else "new admin key for %s" % name))
            if not module.check_mode:
                try:
                    write_private(env_file, wanted)
                except OSError as exc:
                    module.fail_json(msg="cannot write env_file %s: %s" % (env_file, exc), **result)

    module.exit_json(admin_key=admin_key, key_reused=key_reused, **result)


if __name__ == "__main__":
    main()
