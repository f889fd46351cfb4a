# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for the Convex module tests: the Convex TEST STAND-IN on loopback and
a runner that executes a module's main() in-process and returns its JSON result."""
from __future__ import annotations

import json
import os
import secrets
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

STANDIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standins", "convex")
if STANDIN_DIR not in sys.path:
    sys.path.insert(0, STANDIN_DIR)

import convex_standin as standin_lib  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def convex_secret():
    return secrets.token_hex(32)


@pytest.fixture
def convex_standin(convex_secret):
    """A running stand-in for instance 'joelclaw' with an API, a site and a dashboard port."""
    standin = standin_lib.ConvexStandin("joelclaw", convex_secret, site_port=0, dashboard_port=0)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False, diff=False) -> the module's result dict."""
    def run(module, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        out = capsys.readouterr().out
        return json.loads(out)
    return run
