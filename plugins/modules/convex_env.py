#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: convex_env
short_description: Manage a self-hosted Convex deployment's environment variables
version_added: 0.1.0
description:
  - Makes a Convex deployment's environment variables (what functions read as C(process.env))
    match the desired ones.
  - Reads them with C(GET /api/list_environment_variables) and sends only the difference in
    one C(POST /api/update_environment_variables) call; nothing is sent when nothing differs.
  - Values are never logged, returned or shown in diffs; only names are.
  - Names are checked before any request, as the backend checks them (C(^[a-zA-Z_]+[a-zA-Z0-9_]*$),
    at most 256 characters); the built-in C(CONVEX_CLOUD_URL) and C(CONVEX_SITE_URL) are refused.
author:
  - Joel Hooks (@joelhooks)
options:
  variables:
    description:
      - Names and values. With O(state=present) each name is set to its value (strings; numbers
        are converted, C(null) is refused). With O(state=absent) the names are removed and the
        values are ignored.
      - Each value is at most 8 KiB of UTF-8.
    type: dict
    default: {}
  state:
    description: Whether the variables should exist with these values or not exist.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also remove every variable of the deployment that is not in
        O(variables). This also removes variables set by other tools (for example
        C(JWT_PRIVATE_KEY) set by the Convex Auth setup) unless they are listed too.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each HTTP request.
    type: float
    default: 30
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.actiongroup_convex
  - joelclaw.macmini.convex
  - joelclaw.macmini.convex.tls
attributes:
  check_mode:
    support: full
    details: The current variables are read; the update call is skipped.
  diff_mode:
    support: full
    details: The diff lists names only; values are shown as placeholders.
notes:
  - The deployment's variables are not part of a snapshot export; keep them in your inventory
    (vault) and let this module restore them after an import.
seealso:
  - module: joelclaw.macmini.convex_admin_key
"""

EXAMPLES = r"""
- name: Ensure the Convex Auth variables are set on the deployment (key read on the host from the CLI env file).
  joelclaw.macmini.convex_env:
    url: http://127.0.0.1:3210
    admin_key_env_file: "{{ convex_admin_key_env_file }}"
    variables:
      SITE_URL: https://app.example.ts.net
      JWT_PRIVATE_KEY: "{{ convex_auth_jwt_private_key }}"
      JWKS: "{{ convex_auth_jwks }}"
  no_log: true

- name: Ensure the retired variable is gone.
  joelclaw.macmini.convex_env:
    url: http://127.0.0.1:3210
    admin_key: "{{ convex_key.admin_key }}"
    variables:
      OLD_API_TOKEN:
    state: absent
  no_log: true
"""

RETURN = r"""
added:
  description: Names that were (or in check mode would be) created.
  returned: success
  type: list
  elements: str
updated:
  description: Names whose value was (or would be) changed.
  returned: success
  type: list
  elements: str
removed:
  description: Names that were (or would be) deleted.
  returned: success
  type: list
  elements: str
names:
  description: All variable names on the deployment after the change.
  returned: success
  type: list
  elements: str
"""

import re

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_connection import (
    connect, connection_module)

NAME_RE = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*\Z")
NAME_MAX = 256
VALUE_MAX = 8 * 1024
BUILT_IN = ("CONVEX_CLOUD_URL", "CONVEX_SITE_URL")


def validate(variables, state):
    """Return ({name: value as str}, [problems]); problems never contain values."""
    problems, desired = [], {}
    for name, value in sorted(variables.items()):
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append("%r is not a valid name (letters, digits and '_', not starting with a digit)" % (name,))
            continue
        if len(name) > NAME_MAX:
            problems.append("%s is longer than %d characters" % (name[:40] + "...", NAME_MAX))
            continue
        if name in BUILT_IN:
            problems.append("%s is built in (derived from the backend's origins) and cannot be set or removed" % name)
            continue
        if state == "absent":
            desired[name] = None
            continue
        if value is None:
            problems.append("%s has a null value; use state=absent to remove a variable" % name)
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            problems.append("%s has a %s value; values are strings" % (name, type(value).__name__))
            continue
        if len(value.encode("utf-8")) > VALUE_MAX:
            problems.append("%s has a value of %d bytes; the limit is %d" % (name, len(value.encode("utf-8")), VALUE_MAX))
            continue
        desired[name] = value
    return desired, problems


# The backend checks its limits on the whole set after the change and then keeps nothing
# (convex-backend crates/application/src/lib.rs update_environment_variables; the limits are the
# knobs ENV_VAR_LIMIT, 512, and ENV_VAR_TOTAL_SIZE_LIMIT, 512 KiB of names plus values).
LIMIT_CODES = ("EnvVarLimitMet", "EnvVarTotalSizeLimitMet")


def limit_message(exc, current, changes):
    """A refusal for a deployment limit, with the figures the change would have produced (no values)."""
    after = dict(current)
    for change in changes:
        if change["value"] is None:
            after.pop(change["name"], None)
        else:
            after[change["name"]] = change["value"]
    size = sum(len(n.encode("utf-8")) + len(v.encode("utf-8")) for n, v in after.items())
    return ("the deployment refused the change, nothing was changed: %s. With it the deployment would hold "
            "%d variables of %d bytes (names plus values); the backend allows %s by default (its "
            "ENV_VAR_LIMIT and ENV_VAR_TOTAL_SIZE_LIMIT knobs). Remove variables that are no longer used "
            "(state=absent, or exclusive=true) or keep large values elsewhere."
            % (exc.message.rstrip("."), len(after), size, "512 variables and 524288 bytes"))


def plan(current, desired, state, exclusive):
    """(added, updated, removed) names that turn current into what is wanted."""
    if state == "absent":
        return [], [], sorted(n for n in desired if n in current)
    added = sorted(n for n in desired if n not in current)
    updated = sorted(n for n in desired if n in current and current[n] != desired[n])
    removed = sorted(n for n in current if n not in desired and n not in BUILT_IN) if exclusive else []
    return added, updated, removed


def main():
    module = connection_module(
        variables=dict(type="dict", default={}, no_log=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        exclusive=dict(type="bool", default=False),
        timeout=dict(type="float", default=30),
    )
    params = module.params
    if params["exclusive"] and params["state"] == "absent":
        module.fail_json(msg="exclusive=true only applies to state=present (it removes unlisted variables)")
    desired, problems = validate(params["variables"], params["state"])
    if problems:
        module.fail_json(msg="variables refused before contacting the backend: " + "; ".join(problems))
    current, changes = {}, []
    try:
        client = connect(module, params["timeout"])
        current = client.list_env()
        added, updated, removed = plan(current, desired, params["state"], params["exclusive"])
        changes = [{"name": n, "value": desired[n]} for n in added + updated]
        changes += [{"name": n, "value": None} for n in removed]
        if changes and not module.check_mode:
            client.update_env(sorted(changes, key=lambda c: c["name"]))
    except ConvexError as exc:
        if exc.code in LIMIT_CODES:
            module.fail_json(msg=limit_message(exc, current, changes), error=exc.to_dict())
        module.fail_json(msg=exc.message, error=exc.to_dict())

    after = (set(current) | set(added)) - set(removed)
    result = dict(changed=bool(changes), added=added, updated=updated, removed=removed, names=sorted(after))
    if module._diff and changes:
        result["diff"] = dict(
            before="".join("%s=<%s>\n" % (n, "old value" if n in updated else "value") for n in sorted(set(updated) | set(removed))),
            after="".join("%s=<%s>\n" % (n, "new value" if n in updated else "value") for n in sorted(set(updated) | set(added))))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
