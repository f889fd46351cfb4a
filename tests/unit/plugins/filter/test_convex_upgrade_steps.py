# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_upgrade_steps: upstream's migration rule (crates/model/src/migrations.rs and
crates/migrations_model/src/lib.rs at get-convex/convex-backend 94a42c3d), on the release table
read from upstream's tags (playbooks/vars/convex_releases.yml)."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.joelclaw.macmini.plugins.filter.convex_upgrade_steps import convex_upgrade_steps

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "playbooks", "vars", "convex_releases.yml")
with open(TABLE) as handle:
    RELEASES = yaml.safe_load(handle)["convex_upgrade_known_releases"]
TIP = "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf"          # database 128, migrates from 116
V115 = "663640f5a01018914dc4314145f23a31f3afdca6"         # database 115
V116 = "5143fec81f146ca67495c12c6b7a15c5802c37e2"         # database 116
V119_FROM_104 = "478d197d54ee6e873f06cf9e9deae1eb4aa35bb5"


def test_the_table_is_what_upstream_says_at_the_release_tip():
    assert RELEASES[TIP]["database_version"] == 128 and RELEASES[TIP]["migrates_from"] == 116


def test_nothing_running_or_the_same_sha_needs_no_step():
    assert convex_upgrade_steps(TIP, "", RELEASES) == {"ok": True, "steps": [TIP], "msg": ""}
    assert convex_upgrade_steps(TIP, TIP, {})["ok"]


def test_a_database_at_the_bound_migrates_in_one_step():
    assert convex_upgrade_steps(TIP, V116, RELEASES) == {"ok": True, "steps": [TIP], "msg": ""}


def test_a_database_below_the_bound_needs_an_intermediate_release():
    plan = convex_upgrade_steps(TIP, V115, RELEASES)
    assert not plan["ok"]
    assert plan["steps"] == [V119_FROM_104, TIP]
    assert "version 115" in plan["msg"] and "from version 116" in plan["msg"]
    assert "%s (self-hosted-release-2025-05-23-478d197d), then %s" % (V119_FROM_104, TIP) in plan["msg"]


def test_no_release_bridges_the_gap():
    releases = {"a" * 40: {"database_version": 100, "migrates_from": 90}, TIP: RELEASES[TIP]}
    plan = convex_upgrade_steps(TIP, "a" * 40, releases)
    assert not plan["ok"] and "no release in convex_upgrade_releases migrates a database at version 100" in plan["msg"]


def test_an_older_release_on_a_newer_database_is_a_downgrade():
    plan = convex_upgrade_steps(V116, TIP, RELEASES)
    assert not plan["ok"] and "downgrade" in plan["msg"]


@pytest.mark.parametrize("target, previous, named", [("b" * 40, TIP, "new sha"), (TIP, "b" * 40, "running sha")])
def test_an_unknown_sha_is_refused_with_where_to_read_it(target, previous, named):
    plan = convex_upgrade_steps(target, previous, RELEASES)
    assert not plan["ok"]
    assert "The %s %s" % (named, "b" * 40) in plan["msg"]
    assert "blob/%s/crates/migrations_model/src/lib.rs" % ("b" * 40) in plan["msg"]


def test_a_malformed_entry_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="needs integer database_version"):
        convex_upgrade_steps(TIP, V116, {TIP: {"database_version": "x"}, V116: RELEASES[V116]})
