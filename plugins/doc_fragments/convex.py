# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the modules that talk to a self-hosted Convex backend."""

    # The backend's address and an admin key: convex_env, convex_export, convex_import.
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
  validate_certs:
    description: Verify the backend's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust for O(url).
    type: path
"""

    # TLS settings alone, for modules whose url/admin_key options differ.
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
