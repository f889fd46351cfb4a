# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""The connection layer every module that talks to a Convex backend shares.

The shape follows kubernetes.core (plugins/module_utils/args_common.py AUTH_ARG_SPEC, mirrored by
plugins/doc_fragments/k8s_auth_options.py): one argument-spec constant, mirrored by the
joelclaw.macmini.convex doc fragment (a unit test compares the two), and one function that turns a
module's parameters into a client. The client itself (_convex_client) is standard library only;
this file gives it Ansible's HTTP transport, so the scheduled jobs use the same client without
Ansible.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file as env_file_reader
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient, ConvexError

# The TLS options alone (the joelclaw.macmini.convex.tls doc fragment): convex_admin_key, which
# makes the key rather than taking one, uses only these.
TLS_ARGUMENT_SPEC = dict(
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)

# The backend's address, an admin key given directly or read on the managed host from the Convex
# CLI env file (so the key never has to pass through a fact), and TLS: the joelclaw.macmini.convex
# doc fragment. Mirror any change there (tests/unit/plugins/module_utils/test_convex_connection.py
# compares them). Pass CONNECTION_MUTUALLY_EXCLUSIVE (and CONNECTION_REQUIRED_ONE_OF where a key is
# needed) to AnsibleModule beside it.
CONNECTION_ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    admin_key=dict(type="str", no_log=True),
    admin_key_env_file=dict(type="path"),
    **TLS_ARGUMENT_SPEC
)
CONNECTION_MUTUALLY_EXCLUSIVE = [("admin_key", "admin_key_env_file")]
CONNECTION_REQUIRED_ONE_OF = [("admin_key", "admin_key_env_file")]


# Uploading a ZIP (the joelclaw.macmini.convex.import doc fragment) and taking an export (.export).
IMPORT_ARGUMENT_SPEC = dict(
    chunk_size=dict(type="int", default=5 * 1024 * 1024),
    timeout=dict(type="float", default=1800),
    request_timeout=dict(type="float", default=120),
)
EXPORT_ARGUMENT_SPEC = dict(
    timeout=dict(type="float", default=900),
    request_timeout=dict(type="float", default=60),
)
# The backend refuses an upload of more parts than this (the CLI's limit too).
MAX_PARTS = 10000
MIN_CHUNK_SIZE = 1024


def connection_module(key_required=True, shared=None, **options):
    """The AnsibleModule of a module that talks to the backend: CONNECTION_ARGUMENT_SPEC, then the
    ``shared`` spec (IMPORT_ARGUMENT_SPEC, EXPORT_ARGUMENT_SPEC), then the module's own options; the
    admin key given one way (and required unless key_required is false); check mode supported."""
    spec = connection_argument_spec(**dict((name, dict(option)) for name, option in (shared or {}).items()))
    spec.update(options)
    return AnsibleModule(argument_spec=spec, mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                         required_one_of=CONNECTION_REQUIRED_ONE_OF if key_required else None,
                         supports_check_mode=True)


def check_chunk_size(module, size=None, what="the file"):
    """Fail, naming O(chunk_size), when it is below 1024 bytes or would cut ``size`` bytes into
    MAX_PARTS parts or more."""
    chunk_size = module.params["chunk_size"]
    if chunk_size < MIN_CHUNK_SIZE:
        module.fail_json(msg="chunk_size=%d is too small; use at least %d bytes." % (chunk_size, MIN_CHUNK_SIZE))
    if size is not None and size / float(chunk_size) >= MAX_PARTS:
        module.fail_json(msg="%s is too large for %d parts of chunk_size=%d; raise chunk_size."
                             % (what, MAX_PARTS, chunk_size))


def connection_argument_spec(**options):
    """A fresh copy of CONNECTION_ARGUMENT_SPEC (AnsibleModule may change the dicts it gets),
    updated with the module's own options."""
    spec = dict((name, dict(option)) for name, option in CONNECTION_ARGUMENT_SPEC.items())
    spec.update(options)
    return spec


def tls_argument_spec(**options):
    """A fresh copy of TLS_ARGUMENT_SPEC, updated with the module's own options."""
    spec = dict((name, dict(option)) for name, option in TLS_ARGUMENT_SPEC.items())
    spec.update(options)
    return spec


def module_admin_key(module):
    """The admin key of a module using CONNECTION_ARGUMENT_SPEC: O(admin_key), else the key in
    O(admin_key_env_file), else None. Fails the module with the reader's message when the file
    cannot give one; a key read from the file is added to no_log_values."""
    key = module.params.get("admin_key")
    path = module.params.get("admin_key_env_file")
    if key or not path:
        return key or None
    key, problem = env_file_reader.admin_key_or_problem(path)
    if problem:
        module.fail_json(msg=problem)
    module.no_log_values.add(key)
    return key


def connect(module, timeout, admin_key=None, **client_options):
    """A ConvexClient for the module's O(url), O(validate_certs) and O(ca_path), with the admin key
    of module_admin_key (or admin_key) and Ansible's open_url as its transport. A bad O(url) fails
    the module with the client's message, which names the option."""
    params = module.params
    try:
        return ConvexClient(params["url"], admin_key or module_admin_key(module), timeout=timeout,
                            validate_certs=params["validate_certs"], ca_path=params["ca_path"],
                            transport=open_url, **client_options)
    except ConvexError as exc:
        module.fail_json(msg=exc.message, error=exc.to_dict())
