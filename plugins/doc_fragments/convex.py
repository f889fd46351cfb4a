# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the modules that talk to a self-hosted Convex backend."""

    # The connection of every module that talks to the backend with an admin key: url and the admin key here,
    # the TLS options from the TLS fragment below, which every such module also extends (as
    # CONNECTION_ARGUMENT_SPEC in module_utils/_convex_connection.py is these plus TLS_ARGUMENT_SPEC; a unit test
    # compares them). The TLS options are written once.
    DOCUMENTATION = r"""
options:
  url:
    description: The backend's API origin (a local port or C(CONVEX_CLOUD_ORIGIN)), without a path.
    type: str
    required: true
  admin_key:
    description:
      - An admin key for the deployment (see M(joelclaw.macmini.convex_admin_key)).
      - Mutually exclusive with O(admin_key_env_file); prefer O(admin_key_env_file), so that the key never
        passes through a fact or the controller.
    type: str
  admin_key_env_file:
    description:
      - The Convex CLI env file holding C(CONVEX_SELF_HOSTED_ADMIN_KEY), as M(joelclaw.macmini.convex_admin_key)
        writes it, read on the managed host.
      - One of O(admin_key) and O(admin_key_env_file) is required, except by M(joelclaw.macmini.convex_health),
        which then skips the admin key probe.
    type: path
"""

    # TLS settings: with DOCUMENTATION above for the modules that take an admin key, alone for convex_admin_key
    # (which makes the key rather than taking one). Mirrors TLS_ARGUMENT_SPEC in module_utils/_convex_connection.py.
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

    # A ZIP uploaded into the backend (convex_import, convex_backup_restore, convex_restore_drill).
    # Mirrors IMPORT_ARGUMENT_SPEC in module_utils/_convex_connection.py.
    IMPORT = r"""
options:
  chunk_size:
    description: Bytes per uploaded part (the CLI uses 5 MiB; fewer than 10000 parts are allowed).
    type: int
    default: 5242880
  timeout:
    description: Seconds the import (and, for M(joelclaw.macmini.convex_restore_drill), the read-back export) may take after the upload.
    type: float
    default: 1800
  request_timeout:
    description: Seconds to wait for each HTTP request.
    type: float
    default: 120
"""

    # A snapshot export taken from the backend (convex_export, convex_backup).
    # Mirrors EXPORT_ARGUMENT_SPEC in module_utils/_convex_connection.py.
    EXPORT = r"""
options:
  timeout:
    description: Seconds the whole export (waiting and download start) may take.
    type: float
    default: 900
  request_timeout:
    description: Seconds to wait for each HTTP request (and between bytes of the download).
    type: float
    default: 60
"""
