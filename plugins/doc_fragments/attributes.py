# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes the collection's modules document, in the shape community.general and kubernetes.core use:
    the standard fragment says what each attribute means; every module still states its own C(support) (and
    C(details) where they help), or takes one of the fragments below that states it."""

    # What each attribute means. A module that extends this sets attributes.<name>.support itself.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Runs with C(--check), reporting whether it would change something without changing it.
  diff_mode:
    description: Returns what it changed (or, in check mode, would change) when run with C(--diff).
"""

    # A module that only reads and changes nothing. Use together with the standard fragment.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: It only reads, so it does the same in check mode.
  diff_mode:
    support: N/A
    details: It changes nothing, so there is nothing to diff.
"""

    # The modules of the C(convex) action group in meta/runtime.yml (a unit test keeps the two in step).
    ACTIONGROUP_CONVEX = r"""
options: {}
attributes:
  action_group:
    description:
      - Set the connection options (O(url), O(admin_key_env_file), O(validate_certs), O(ca_path)) once for
        every module of the group with C(group/joelclaw.macmini.convex) in C(module_defaults).
    support: full
    membership:
      - joelclaw.macmini.convex
"""

    # A module with an action plugin of the same name that does all its work in the controller's process
    # (caddy_site_plan, bcrypt_hash): it needs nothing from the host, so no module is sent there.
    CONTROLLER = r"""
options: {}
attributes:
  action:
    description: Runs as an action plugin of the same name.
    support: full
    details: It needs nothing from the host, so it runs on the controller and sends nothing to the host.
"""
