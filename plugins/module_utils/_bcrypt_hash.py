# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decision of joelclaw.macmini.bcrypt_hash, shared by its module and its action plugin.

Keep a previous bcrypt hash while it still matches the password; make a new one otherwise. The action plugin
(plugins/action/bcrypt_hash.py) runs it in the controller's process, where bcrypt is installed; the module
(plugins/modules/bcrypt_hash.py) runs it where the task is delegated when the action plugin is bypassed.
"""
from __future__ import absolute_import, annotations, division, print_function

import traceback

try:
    import bcrypt
except ImportError:
    bcrypt = None
    BCRYPT_IMPORT_ERROR = traceback.format_exc()
else:
    BCRYPT_IMPORT_ERROR = None

MAX_PASSWORD_BYTES = 72

ARGUMENT_SPEC = dict(
    password=dict(type="str", required=True, no_log=True),
    existing_hash=dict(type="str", default="", no_log=False),
    cost=dict(type="int", default=12),
)


class HashError(ValueError):
    """A problem with the options; the message never holds the password."""


def matches(password, existing_hash):
    """True when existing_hash is a well-formed bcrypt hash of password (bytes)."""
    if not existing_hash or not existing_hash.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(password, existing_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def stable_hash(params):
    """(hash, reused) for validated options; raises HashError."""
    cost = params["cost"]
    if not 4 <= cost <= 31:
        raise HashError("cost=%d is out of range; bcrypt accepts 4 to 31 (12 is a good default)" % cost)
    password = params["password"].encode("utf-8")
    if not password:
        raise HashError("password is empty; set a password or disable basic auth")
    if len(password) > MAX_PASSWORD_BYTES:
        raise HashError("password is longer than %d bytes, which bcrypt would silently truncate; "
                        "use a shorter password" % MAX_PASSWORD_BYTES)
    existing = params["existing_hash"].strip()
    if matches(password, existing):
        return existing, True
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost)).decode("ascii"), False
