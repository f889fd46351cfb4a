# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of joelclaw.macmini.caddy_site_plan: plans the sites on the controller.

Planning reads nothing from the host (plugins/module_utils/_caddy_sites.py is pure), so it runs here, in
the controller's process, instead of as a module on the host: one round trip fewer on every converge
(issue #13). Same options (ARGUMENT_SPEC, documented in plugins/modules/caddy_site_plan.py), same checks,
same result and messages as the module.
"""
from __future__ import absolute_import, annotations, division, print_function

from ansible.plugins.action import ActionBase

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_sites import ARGUMENT_SPEC, SiteError, plan_sites


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        # Fails the task with the option problem (AnsibleActionFail), as AnsibleModule would.
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            planned, warnings = plan_sites(params)
        except SiteError as exc:
            result.update(failed=True, msg="Invalid Caddy sites: " + " | ".join(exc.problems), problems=exc.problems)
            return result
        result.update(planned)
        result["changed"] = False
        if warnings:
            result["warnings"] = list(result.get("warnings") or []) + warnings
        return result
