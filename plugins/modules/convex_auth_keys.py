#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_auth_keys
short_description: Load or generate the RS256 key pair Convex Auth signs its tokens with
version_added: 0.1.0
description:
  - Returns C(JWT_PRIVATE_KEY) and C(JWKS) for a self-hosted Convex deployment, in exactly the
    form the upstream Convex Auth manual setup script prints them (a PKCS#8 PEM with newlines
    as spaces; C({"keys":[{"use":"sig","kty":"RSA","n":...,"e":...}]})).
  - The key comes from O(private_key) (for example a vaulted PEM) or from the file O(path). When
    O(path) does not exist, a new RSA key is generated and written there (mode 0600,
    atomically); later runs read it back, so the key never changes by accident.
  - A new key logs every user out. It is made only when the file is missing or O(rotate=true).
  - Both sources are checked before anything is written; an RSA key in PKCS#1 form, an
    encrypted or non-RSA key, or a key shorter than 2048 bits is refused with what to do.
  - The task must set C(no_log=true) because the result carries the private key; the module
    refuses to run otherwise.
author:
  - Joel Hooks (@joelhooks)
requirements:
  - cryptography on the managed host
options:
  path:
    description:
      - File holding the private key as a PKCS#8 PEM. Created (mode 0600, parent directory 0700)
        when missing; its mode is set to 0600 when it is wider.
      - Mutually exclusive with O(private_key).
    type: path
  private_key:
    description:
      - The private key itself, as a PKCS#8 PEM with newlines or, as in C(JWT_PRIVATE_KEY),
        with spaces between the lines. Keep it in a vault.
      - Mutually exclusive with O(path).
    type: str
  rotate:
    description:
      - Generate a new key and replace the one in O(path). Every signed-in user is signed out.
      - Only with O(path); to rotate a O(private_key), change the vaulted value.
    type: bool
    default: false
  key_size:
    description: Bits of a newly generated RSA key (2048 is what the upstream script makes).
    type: int
    default: 2048
    choices: [2048, 3072, 4096]
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: full
    details: A key that would be generated is generated in memory and returned, so later tasks can predict their changes; O(path) is not written.
  diff_mode:
    support: full
    details: The diff names the key file and the public key fingerprints, never the key.
notes:
  - The backend fetches C(<CONVEX_SITE_URL>/.well-known/jwks.json) and verifies tokens with
    C(JWKS); both variables must come from the same key, so set them together
    (M(joelclaw.macmini.convex_env)).
seealso:
  - module: joelclaw.macmini.convex_env
  - name: Convex Auth manual setup
    description: The upstream steps this module automates.
    link: https://labs.convex.dev/auth/setup/manual
"""

EXAMPLES = r"""
- name: Ensure the Convex Auth signing key exists and read it back.
  joelclaw.macmini.convex_auth_keys:
    path: "{{ convex_state_dir }}/convex-auth-jwt-key.pem"
  register: convex_auth_keys
  no_log: true

- name: Ensure the Convex Auth variables are set on the deployment.
  joelclaw.macmini.convex_env:
    url: http://127.0.0.1:3210
    admin_key_env_file: "{{ convex_admin_key_env_file }}"
    variables:
      JWT_PRIVATE_KEY: "{{ convex_auth_keys.jwt_private_key }}"
      JWKS: "{{ convex_auth_keys.jwks }}"
  no_log: true

- name: Rotate the Convex Auth signing key (signs every user out).
  joelclaw.macmini.convex_auth_keys:
    path: "{{ convex_state_dir }}/convex-auth-jwt-key.pem"
    rotate: true
  register: convex_auth_keys
  no_log: true
"""

RETURN = r"""
jwt_private_key:
  description:
    - The value for C(JWT_PRIVATE_KEY) (PKCS#8 PEM, newlines as spaces). A credential.
  returned: success
  type: str
jwks:
  description: The value for C(JWKS), the public key as a JSON Web Key Set (not secret).
  returned: success
  type: str
fingerprint:
  description: SHA-256 (hex) of the public key; it changes exactly when the key changes.
  returned: success
  type: str
  sample: 3f1c0c3e0a5d6a1b9f4e2d7c8b6a5f4e3d2c1b0a99887766554433221100ffee
source:
  description: Where the key came from, V(private_key), V(file), V(generated) or V(rotated).
  returned: success
  type: str
key_size:
  description: The key's size in bits.
  returned: success
  type: int
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.joelclaw.macmini.plugins.module_utils._private_file import write_private
from ansible_collections.joelclaw.macmini.plugins.module_utils._secret_result import require_no_log
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_auth import (
    CRYPTOGRAPHY_IMPORT_ERROR, AuthKeyError, fingerprint, generate_private_key, jwks_value, jwt_private_key_value,
    load_private_key, pkcs8_pem)


def read_key_file(module, path):
    """(key, mode) from path, or (None, None) when it does not exist."""
    try:
        with open(path, "r") as handle:
            text = handle.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg="cannot read the Convex Auth key file path=%s: %s" % (path, exc))
    source = ("the key file path=%s (delete it to generate a new key, which signs every user out, or replace it "
              "with an RSA PKCS#8 PEM)" % path)
    return load_private_key(text, source), mode


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            private_key=dict(type="str", no_log=True),
            rotate=dict(type="bool", default=False),
            key_size=dict(type="int", default=2048, choices=[2048, 3072, 4096]),
        ),
        mutually_exclusive=[("path", "private_key")],
        required_one_of=[("path", "private_key")],
        supports_check_mode=True,
    )
    require_no_log(module, "the Convex Auth private key (jwt_private_key)")
    if CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    path = params["path"]
    if params["rotate"] and not path:
        module.fail_json(msg="rotate=true needs path: a key given as private_key is rotated by changing the "
                             "vaulted value (for example to the output of `openssl genpkey -algorithm RSA "
                             "-pkeyopt rsa_keygen_bits:2048`).")
    changed = False
    diff = None
    try:
        if params["private_key"] is not None:
            key, source = load_private_key(params["private_key"], "private_key"), "private_key"
        else:
            old_key, mode = read_key_file(module, path)
            if old_key is not None and not params["rotate"]:
                key, source = old_key, "file"
                if mode != 0o600:
                    changed = True
                    diff = dict(before_header=path, after_header=path, before="mode %04o\n" % mode, after="mode 0600\n")
                    if not module.check_mode:
                        os.chmod(path, 0o600)
            else:
                key = generate_private_key(params["key_size"])
                source = "rotated" if old_key is not None else "generated"
                changed = True
                diff = dict(before_header=path, after_header=path,
                            before="" if old_key is None else "RSA key, public key sha256 %s\n" % fingerprint(old_key),
                            after="RSA key, public key sha256 %s (%s)\n" % (fingerprint(key), source))
                if not module.check_mode:
                    write_private(path, pkcs8_pem(key))
    except AuthKeyError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot write the Convex Auth key file path=%s: %s" % (path, exc))

    result = dict(changed=changed, jwt_private_key=jwt_private_key_value(pkcs8_pem(key)), jwks=jwks_value(key),
                  fingerprint=fingerprint(key), source=source, key_size=key.key_size)
    if module._diff and diff:
        result["diff"] = diff
    # The task is no_log (checked above), so the executor hides the whole result. Without this,
    # AnsibleModule would mask any returned string that contains the private_key parameter (as
    # jwt_private_key does when the vaulted value is already in the JWT_PRIVATE_KEY form).
    module.no_log_values.discard(params["private_key"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
