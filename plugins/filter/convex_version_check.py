# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide whether a converge may move the running Convex image sha, and keep the record of what ran.

Git shas are not ordered, so "newer" cannot be read off two shas. The rule:
* the live StatefulSet's image is the version that runs now;
* the record (a file on the Mac, appended every time the backend role applies a sha) is the order in
  which this deployment ran its shas; a sha that ran before the live one FIRST ran is older;
* a plain converge never changes the live sha; playbooks/upgrade.yml may move it to a sha the record
  does not show as older (change=upgrade); only change=rollback may move it anywhere.
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

CHANGES = ('none', 'upgrade', 'rollback')


def _shas(record):
    history = (record or {}).get('history') or []
    if not isinstance(history, list):
        raise AnsibleFilterError('the Convex version record has a "history" that is not a list')
    return [str(entry.get('sha', '')) if isinstance(entry, dict) else str(entry) for entry in history]


def _older(desired, live, shas):
    """True when the record shows desired running before live first ran.

    After a rollback (A, B, A) the live A first ran before B, so B is not older: upgrading to B again is
    an upgrade, and going from B back to A is a downgrade.
    """
    if desired not in shas or live not in shas:
        return False
    return desired in shas[:shas.index(live)]


def convex_version_check(desired, live, record=None, change='none'):
    """'' when the change is allowed, else the reason it is refused (names the variables to set)."""
    if change not in CHANGES:
        raise AnsibleFilterError('convex_backend_version_change is %r; expected one of %s' % (change, ', '.join(CHANGES)))
    if not live or desired == live or change == 'rollback':
        return ''
    shas = _shas(record)
    if _older(desired, live, shas):
        return ('convex_image_sha is %s, which this deployment ran before the %s that runs now (version record). '
                'That is a downgrade, and Convex migrations are forward-only. If playbooks/upgrade.yml moved the backend '
                'to %s, pin convex_image_sha: %s in the inventory. To roll back on purpose, follow "Rolling back" in '
                'roles/convex_backend/README.md (restore the pre-upgrade export) and run with '
                'convex_backend_version_change: rollback.' % (desired, live, live, live))
    if change == 'upgrade':
        return ''
    return ('The backend runs %s but convex_image_sha is %s. A converge does not change the running version: to upgrade '
            '(export first, wait for migrations), run playbooks/upgrade.yml -e convex_upgrade_sha=%s; to keep what runs, '
            'pin convex_image_sha: %s in the inventory; to go back to an older sha, see "Rolling back" in '
            'roles/convex_backend/README.md (convex_backend_version_change: rollback).' % (live, desired, desired, live))


def convex_version_record(record, sha, live='', now=''):
    """The record after sha was applied: history gains sha (and, first, a live sha it never saw)."""
    history = [dict(entry) if isinstance(entry, dict) else {'sha': str(entry)} for entry in ((record or {}).get('history') or [])]
    if live and not history:
        history.append({'sha': live, 'applied': 'before the record was kept'})
    if not history or history[-1].get('sha') != sha:
        history.append({'sha': sha, 'applied': now})
    return {'sha': sha, 'history': history}


class FilterModule(object):
    def filters(self):
        return {'convex_version_check': convex_version_check,
                'convex_version_record': convex_version_record}
