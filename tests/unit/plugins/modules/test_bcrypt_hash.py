# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json

import bcrypt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.joelclaw.macmini.plugins.modules import bcrypt_hash


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            bcrypt_hash.main()
    return json.loads(capsys.readouterr().out)


def test_new_hash_when_there_is_none(capsys):
    result = run(capsys, password="hunter2", cost=4)
    assert result["changed"] is True and result["reused"] is False
    assert bcrypt.checkpw(b"hunter2", result["hash"].encode())
    assert "hunter2" not in json.dumps(result)


def test_matching_hash_is_reused_unchanged(capsys):
    existing = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    result = run(capsys, password="hunter2", existing_hash=existing + "\n", cost=4)
    assert result == {**result, "changed": False, "reused": True, "hash": existing}


def test_changed_password_gets_a_new_hash(capsys):
    existing = bcrypt.hashpw(b"old", bcrypt.gensalt(rounds=4)).decode()
    result = run(capsys, password="new", existing_hash=existing, cost=4)
    assert result["changed"] is True and result["hash"] != existing
    assert bcrypt.checkpw(b"new", result["hash"].encode())


def test_garbage_previous_hash_is_replaced(capsys):
    result = run(capsys, password="x", existing_hash="not-a-hash", cost=4)
    assert result["changed"] is True and result["hash"].startswith("$2")


@pytest.mark.parametrize("args, message", [
    ({"password": "x", "cost": 3}, "out of range"),
    ({"password": ""}, "password is empty"),
    ({"password": "a" * 73}, "longer than 72 bytes"),
])
def test_bad_input_fails_clearly(capsys, args, message):
    result = run(capsys, **args)
    assert result["failed"] is True and message in result["msg"]
