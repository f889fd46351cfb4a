# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rename_options: a module's error message with its option names replaced by the role variables that feed them."""
from __future__ import absolute_import, annotations, division, print_function

import re

from ansible.errors import AnsibleFilterError


def rename_options(msg, names):
    """Replace `option=`, `option.key=` and `option[N]=` (the way the collection's modules name their options in
    errors) by the variable in `names`; a name inside another word or after a dot (`label=talos.cluster.name=`)
    is left alone."""
    if not isinstance(names, dict):
        raise AnsibleFilterError("rename_options expects a mapping option -> variable, got %r" % (names,))
    text = str(msg)
    if not names:
        return text
    pattern = re.compile(r'(?<![\w.\-])(%s)(?=(?:\.[\w.\-]+|\[\d+\])?=)'
                         % '|'.join(re.escape(str(option)) for option in sorted(names, key=len, reverse=True)))
    return pattern.sub(lambda match: str(names[match.group(1)]), text)


class FilterModule(object):
    def filters(self):
        return {"rename_options": rename_options}
