# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: may change without notice. Only the collection's modules import it.
"""A module as a manager with a difference tracker, the shape of community.docker's docker_network.

The shape (not the code) follows ansible-collections/community.docker at commit ac6ecb0527b9 (one commit after
tag 5.2.2): plugins/modules/docker_network.py (DockerNetworkManager: one method per state, an action list, a
tracker merged into the result) and plugins/module_utils/_util.py (DifferenceTracker: named before/after pairs).
Here the tracker also holds the actions, so `changed`, `actions` and `diff` come from one place, and check mode is
honoured in one place (Manager.act).
"""

from __future__ import annotations

import copy


class DifferenceTracker:
    """Named before/after values and the actions that make the difference.

    add() keeps the first `before` of a name and the last `after`, so a value changed in two steps shows once.
    """

    def __init__(self):
        self._items = {}
        self.actions = []

    def add(self, name, before, after):
        if name in self._items:
            before = self._items[name][0]
        self._items[name] = (copy.deepcopy(before), copy.deepcopy(after))

    def before(self, name, default=None):
        return self._items[name][0] if name in self._items else default

    def act(self, text):
        self.actions.append(text)

    @property
    def changed(self):
        """True when an action was (or, in check mode, would be) taken."""
        return bool(self.actions)

    def differences(self):
        """Names whose value differs before and after."""
        return [name for name, (before, after) in self._items.items() if before != after]

    def before_after(self):
        """({name: before}, {name: after}), as Ansible shows a diff."""
        return ({name: pair[0] for name, pair in self._items.items()},
                {name: pair[1] for name, pair in self._items.items()})


class Manager:
    """Runs one module's state as a method (present(), absent(), ...) and builds its result.

    Subclasses fill self.results and call self.act() for every change; result() adds `changed`, `actions` and,
    in diff mode, `diff`.
    """

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.tracker = DifferenceTracker()
        self.results = {}

    def act(self, text, func=None, *args, **kwargs):
        """Record an action; run func(*args, **kwargs) unless in check mode. Returns what func returned, or None."""
        self.tracker.act(text)
        if func is None or self.check_mode:
            return None
        return func(*args, **kwargs)

    def fail(self, msg, **extra):
        """fail_json with the actions taken so far, so a failure mid-way says what already happened."""
        extra.setdefault('actions', list(self.tracker.actions))
        self.module.fail_json(msg=msg, **extra)

    def run_state(self, state):
        getattr(self, state)()
        return self.result()

    def result(self):
        result = dict(self.results, changed=self.tracker.changed, actions=list(self.tracker.actions))
        if self.module._diff:  # pylint: disable=protected-access  # AnsibleModule's documented diff flag
            before, after = self.tracker.before_after()
            result['diff'] = {'before': before, 'after': after}
        return result
