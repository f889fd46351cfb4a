# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""The one check of every module whose result carries a secret: it refuses to run without no_log."""

from __future__ import annotations


def require_no_log(module, secret):
    """Fail the module, before it does anything, unless its task set no_log: true.

    ``secret`` names what the result carries (e.g. "the Convex admin key"); the message says
    which task setting is missing and never holds a value."""
    if not module.no_log:
        module.fail_json(msg="set no_log: true on this task: its result carries %s, which Ansible would "
                             "otherwise print with -v and store in callbacks." % secret)
