# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for role-level tests that run real ansible-playbook against this machine.

Role tests use them to prove that bad input fails before any change: run_playbook runs in
--check mode unless told otherwise, so a validation bug cannot touch the machine.
"""
from __future__ import annotations

import pytest

from playbook_runner import PlaybookRun, ansible_playbook

__all__ = ["PlaybookRun"]


@pytest.fixture
def run_playbook(tmp_path):
    def run(play: str, extra_vars: dict | None = None, check: bool = True, verbosity: int = 0) -> PlaybookRun:
        return ansible_playbook(tmp_path, play, extra_vars, check=check, verbosity=verbosity)

    return run


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Tests that share a module-scoped fixture (one converge read by many tests) form one xdist group:
    with `pytest -n N --dist loadgroup` (make units) they run on one worker, so the shared converge
    runs once, not once per worker that happens to get one of them. Other tests spread one by one."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        if any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
