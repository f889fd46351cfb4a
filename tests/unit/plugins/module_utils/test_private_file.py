# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _private_file
from ansible_collections.joelclaw.macmini.plugins.module_utils._private_file import write_private


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_and_directory_are_private(tmp_path):
    target = tmp_path / "state" / "admin.env"
    write_private(str(target), "KEY=value\n")
    assert target.read_text() == "KEY=value\n"
    assert mode(target) == 0o600 and mode(target.parent) == 0o700


def test_existing_world_readable_file_is_replaced_with_a_private_one(tmp_path):
    target = tmp_path / "secret"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_private(str(target), "new")
    assert target.read_text() == "new" and mode(target) == 0o600


def test_missing_directory_is_an_error_when_not_allowed_to_create_it(tmp_path):
    with pytest.raises(OSError):
        write_private(str(tmp_path / "absent" / "secret"), "x", create_dir=False)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "secret"
    target.write_text("old")

    def broken_fsync(_fd):
        raise OSError("disk full")

    monkeypatch.setattr(_private_file.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_private(str(target), "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]
