# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """What the modules built on module_utils/_manager.py (a manager and a difference tracker) share.
    Use together with joelclaw.macmini.attributes, which says what the attributes mean."""

    DOCUMENTATION = r"""
notes:
  - Check mode computes the same commands, C(changed) and diff without running them or writing files.
  - Error messages name this module's options (C(option=value)); a role that calls the module translates them to
    its own variables with the P(joelclaw.macmini.rename_options#filter) filter.
attributes:
  check_mode:
    support: full
    details: Computes the same commands, C(changed) and diff without running them.
  diff_mode:
    support: full
    details: Shows, before and after, what the module compares (see the notes).
"""
