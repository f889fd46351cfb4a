# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""The one reader of the Convex CLI env file (CONVEX_SELF_HOSTED_URL / CONVEX_SELF_HOSTED_ADMIN_KEY).

Every module and the scheduled backup job read the file through this, the way the CLI does:
get-convex/convex-js (8e20ab9, 1.45.0) loads it with dotenv.parse (src/cli/lib/deploymentSelection.ts),
and package.json asks for dotenv ^16.4.7. The rules below are motdotla/dotenv v16.4.7 lib/main.js
``parse`` (its LINE expression is unchanged up to 16.6.1): an optional ``export `` prefix, ``=`` or
``: `` after the name, values in single, double or back quotes (which may span lines; in double
quotes \\n and \\r are expanded), an unquoted value ends at ``#``, surrounding blanks are dropped,
lines that do not match (comments, junk) are skipped, and a later line wins over an earlier one.

Standard library only: the backup job imports this without Ansible.
"""

from __future__ import annotations

import re

ADMIN_KEY = "CONVEX_SELF_HOSTED_ADMIN_KEY"
URL = "CONVEX_SELF_HOSTED_URL"

# dotenv 16.4.7's LINE, with Python's spelling; ASCII so that \w and \s mean what they mean in JS.
LINE = re.compile(
    r"^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)"
    r"(\s*'(?:\\'|[^'])*'|\s*\"(?:\\\"|[^\"])*\"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?"
    r"\s*(?:#.*)?$",
    re.MULTILINE | re.ASCII)
QUOTED = re.compile(r"^(['\"`])([\s\S]*)\1$")


def parse(text):
    """{NAME: value} from the text of a dotenv file, as dotenv.parse returns it."""
    values = {}
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for match in LINE.finditer(text):
        value = (match.group(2) or "").strip()
        quote = value[:1]
        unquoted = QUOTED.match(value)
        if unquoted:
            value = unquoted.group(2)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        values[match.group(1)] = value
    return values


def read(path):
    """(values, text) of the env file at path, or (None, None) when it does not exist.
    Other OSErrors and undecodable files raise (OSError, UnicodeDecodeError)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, None
    return parse(text), text


def admin_key(path):
    """CONVEX_SELF_HOSTED_ADMIN_KEY from the env file at path; None when the file has no such
    line or its value is empty. A missing file raises FileNotFoundError (callers say to converge)."""
    values, _text = read(path)
    if values is None:
        raise FileNotFoundError(2, "No such file or directory", path)
    return values.get(ADMIN_KEY) or None


def admin_key_or_problem(path):
    """(key, problem) from the CONVEX_SELF_HOSTED_ADMIN_KEY line of the env file at path, read with
    admin_key(): the key and None, or None and a message naming admin_key_env_file
    (never the key) that says how to write the file."""
    try:
        key = admin_key(path)
    except (OSError, UnicodeDecodeError) as exc:
        return None, ("admin_key_env_file %s cannot be read (%s); converge joelclaw.macmini.convex_backend "
                      "(convex_admin_key with env_file) to write it." % (path, getattr(exc, "strerror", None) or exc))
    if not key:
        return None, ("admin_key_env_file %s has no CONVEX_SELF_HOSTED_ADMIN_KEY line; converge "
                      "joelclaw.macmini.convex_backend (convex_admin_key with env_file) to write it." % path)
    return key, None
