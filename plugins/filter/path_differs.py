# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""path_differs: whether a path read by joelclaw.macmini.host_state differs from the state a task wants."""
from __future__ import absolute_import, annotations, division, print_function

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

TYPES = ("file", "directory", "link", "absent")


def _octal(mode, path):
    """A wanted mode as host_state reports modes: four octal digits. An int is taken as the file module
    takes it (YAML's 0600 is already the number 384)."""
    if isinstance(mode, bool):
        raise AnsibleFilterError("path_differs: mode=%r for %s is not a mode" % (mode, path))
    if isinstance(mode, int):
        number = mode
    else:
        text = str(mode)
        if not text or any(char not in "01234567" for char in text):
            raise AnsibleFilterError("path_differs: mode=%r for %s must be octal digits such as '0600'" % (mode, path))
        number = int(text, 8)
    if number > 0o7777:
        raise AnsibleFilterError("path_differs: mode=%r for %s is out of range" % (mode, path))
    return "%04o" % number


def path_differs(states, path, type="file", mode=None, owner=None, group=None, content=None, target=None):
    """True when what host_state found at path is not what is wanted: another type, or a wanted mode,
    owner, group, content (compared by SHA-1, as copy and template compare) or link target that differs.
    An option left at None is not compared. A file whose content host_state could not read differs."""
    if not isinstance(states, dict):
        raise AnsibleFilterError("path_differs expects the paths that joelclaw.macmini.host_state returned, got %r"
                                 % (states.__class__.__name__,))
    if path not in states:
        raise AnsibleFilterError("path_differs: %s was not read by host_state (read: %s)" % (path, ", ".join(sorted(states))))
    if type not in TYPES:
        raise AnsibleFilterError("path_differs: type=%r for %s; expected one of %s" % (type, path, ", ".join(TYPES)))
    state = states[path]
    if type == "absent":
        return bool(state.get("exists"))
    if state.get("type") != type:
        return True
    if mode is not None and state.get("mode") != _octal(mode, path):
        return True
    if owner is not None and state.get("owner") != str(owner):
        return True
    if group is not None and state.get("group") != str(group):
        return True
    if content is not None:
        if type != "file":
            raise AnsibleFilterError("path_differs: content is compared for type=file only (%s)" % path)
        if state.get("checksum") != hashlib.sha1(to_bytes(content, errors="surrogate_or_strict")).hexdigest():
            return True
    if target is not None:
        if type != "link":
            raise AnsibleFilterError("path_differs: target is compared for type=link only (%s)" % path)
        if state.get("target") != str(target):
            return True
    return False


class FilterModule(object):
    def filters(self):
        return {"path_differs": path_differs}
