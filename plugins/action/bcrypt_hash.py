# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of joelclaw.macmini.bcrypt_hash: hashes on the controller, in its own process.

The hash needs the bcrypt library, which the controller has (requirements.txt) and the host may not, and
nothing from the host: running it here instead of as a module (delegated to localhost) saves a module run
on every converge (issue #13). Same options (documented in plugins/modules/bcrypt_hash.py), same decision
and messages (plugins/module_utils/_bcrypt_hash.py). The password is never part of the result.
"""
from __future__ import absolute_import, annotations, division, print_function

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.joelclaw.macmini.plugins.module_utils import _bcrypt_hash


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=_bcrypt_hash.ARGUMENT_SPEC)
        if _bcrypt_hash.BCRYPT_IMPORT_ERROR:
            raise AnsibleActionFail("bcrypt_hash needs the Python library bcrypt on the controller "
                                    "(pip install 'bcrypt>=4.0' in the venv that runs ansible-playbook)")
        try:
            digest, reused = _bcrypt_hash.stable_hash(params)
        except _bcrypt_hash.HashError as exc:
            raise AnsibleActionFail(str(exc))
        result.update(changed=not reused, hash=digest, reused=reused)
        return result
