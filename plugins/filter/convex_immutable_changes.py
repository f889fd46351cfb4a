# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a StatefulSet about to be applied with the live one, on the fields the API server will not change.

The list of fields an update may touch is the one kube-apiserver states when it refuses the others
(pkg/apis/apps/validation/validation.go, ValidateStatefulSetUpdate): "updates to statefulset spec for
fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit',
'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden" (HTTP 422).
"""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation

from ansible.errors import AnsibleFilterError

MUTABLE_SPEC_FIELDS = frozenset(['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit',
                                 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'])
# Fields the API server fills in (defaulting) that a manifest may leave out.
DEFAULTS = {'podManagementPolicy': 'OrderedReady'}
# Quantity grammar of k8s.io/apimachinery/pkg/api/resource (quantity.go): number, then a suffix.
QUANTITY = re.compile(r'^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]?)\Z')
BINARY = {'Ki': 1, 'Mi': 2, 'Gi': 3, 'Ti': 4, 'Pi': 5, 'Ei': 6}
DECIMAL = {'n': -9, 'u': -6, 'm': -3, '': 0, 'k': 3, 'M': 6, 'G': 9, 'T': 12, 'P': 15, 'E': 18}


def quantity(value):
    """The exact value of a Kubernetes quantity ('5Gi' == '5120Mi'), or None when it is not one."""
    match = QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2)
    if suffix in BINARY:
        return number * (Decimal(1024) ** BINARY[suffix])
    if suffix[:1] in ('e', 'E'):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * (Decimal(10) ** DECIMAL[suffix])


def _same(path, desired, live):
    """Equal, with quantities (under .resources.) compared by value: the API server canonicalises them."""
    if '.resources.' in path and isinstance(desired, (str, int)) and isinstance(live, (str, int)):
        a, b = quantity(desired), quantity(live)
        if a is not None and b is not None:
            return a == b
    return desired == live


def _walk(path, desired, live, changes):
    """Record where desired differs from live; keys only the live object has are API defaults."""
    if isinstance(desired, dict) and isinstance(live, dict):
        for key, value in desired.items():
            _walk('%s.%s' % (path, key), value, live.get(key), changes)
        return
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        for index, (want, have) in enumerate(zip(desired, live)):
            name = want.get('metadata', {}).get('name') if isinstance(want, dict) else None
            _walk('%s[%s]' % (path, name if name else index), want, have, changes)
        return
    if not _same(path, desired, live):
        changes.append({'field': path, 'live': live, 'desired': desired})


def convex_immutable_changes(desired, live):
    """[{'field': 'spec.x', 'live': ..., 'desired': ...}] for every immutable StatefulSet field that differs.

    desired: the manifest about to be applied; live: the object read from the cluster ({} or None: none).
    """
    if not live:
        return []
    if not isinstance(desired, dict) or not isinstance(live, dict):
        raise AnsibleFilterError('convex_immutable_changes expects two StatefulSet objects (dicts)')
    want, have = desired.get('spec') or {}, live.get('spec') or {}
    changes = []
    for key in sorted(set(want) | set(DEFAULTS)):
        if key in MUTABLE_SPEC_FIELDS:
            continue
        value = want.get(key, DEFAULTS.get(key))
        if key == 'volumeClaimTemplates':
            # An atomic list: a field the manifest leaves out is dropped, not kept (storageClassName).
            for index, template in enumerate(value or []):
                live_templates = have.get(key) or []
                if index < len(live_templates):
                    live_class = (live_templates[index].get('spec') or {}).get('storageClassName')
                    if live_class and 'storageClassName' not in (template.get('spec') or {}):
                        name = template.get('metadata', {}).get('name', index)
                        changes.append({'field': 'spec.%s[%s].spec.storageClassName' % (key, name),
                                        'live': live_class, 'desired': None})
            if len(value or []) != len(have.get(key) or []):
                changes.append({'field': 'spec.%s' % key, 'live': have.get(key) or [], 'desired': value or []})
                continue
        _walk('spec.%s' % key, value, have.get(key, DEFAULTS.get(key)), changes)
    return changes


class FilterModule(object):
    def filters(self):
        return {'convex_immutable_changes': convex_immutable_changes}
