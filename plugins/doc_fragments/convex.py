# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the modules that talk to a self-hosted Convex backend."""

    # The backend's address and an admin key given directly (no module uses it any more; kept for
    # connection_argument_spec).
    DOCUMENTATION = r"""
options:
  url:
    description: The backend's API origin (C(CONVEX_CLOUD_ORIGIN) or a local port), without a path.
    type: str
    required: true
  admin_key:
    description: An admin key for the deployment (see M(joelclaw.macmini.convex_admin_key)).
    type: str
    required: true
"""

    # The backend's address and an admin key given directly or read from the CLI env file
    # that convex_admin_key writes, read on the managed host with the one reader
    # (module_utils/_convex_env_file.py): convex_env, convex_export, convex_import, convex_backup,
    # convex_backup_restore. Mirrors ENV_FILE_ARGUMENT_SPEC in module_utils/_convex_client.py.
    ENV_FILE = r"""
options:
  url:
    description: The backend's API origin (a local port or C(CONVEX_CLOUD_ORIGIN)), without a path.
    type: str
    required: true
  admin_key:
    description: An admin key for the deployment. Mutually exclusive with O(admin_key_env_file).
    type: str
  admin_key_env_file:
    description:
      - The Convex CLI env file holding C(CONVEX_SELF_HOSTED_ADMIN_KEY), read on the managed host.
      - One of O(admin_key) and O(admin_key_env_file) is required.
    type: path
"""

    # TLS settings of every module that talks to the backend.
    TLS = r"""
options:
  validate_certs:
    description: Verify the backend's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust for O(url).
    type: path
"""
