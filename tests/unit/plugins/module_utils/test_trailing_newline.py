# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugins' input checks refuse a value with a trailing newline: their patterns end in \\Z, not $
(Python's $ also matches just before a final newline). Each case is a value that is accepted without the
newline, so the check is shown to pass the good value and refuse only the newline."""
from __future__ import annotations

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_admin_key as admin_key
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite
from ansible_collections.joelclaw.macmini.plugins.module_utils import _talos as talos
from ansible_collections.joelclaw.macmini.plugins.modules import caddy_config, convex_env, convex_instance_secret


def sftp(**fields):
    return [dict({"name": "offsite", "type": "sftp", "path": "/srv/restic", "host": "backup.example",
                  "user": "restic"}, **fields)]


def test_offsite_repository_fields():
    assert offsite.check_repositories(sftp()) == []
    for field in ("name", "host", "user"):
        problems = offsite.check_repositories(sftp(**{field: sftp()[0][field] + "\n"}))
        assert any("%s=" % field in problem for problem in problems), (field, problems)


def test_offsite_check_subset():
    assert offsite.SUBSET_RE.match("10%") and not offsite.SUBSET_RE.match("10%\n")


def test_instance_name_of_an_admin_key():
    assert admin_key.check_instance_name("joelclaw") == "joelclaw"
    with pytest.raises(admin_key.AdminKeyError):
        admin_key.check_instance_name("joelclaw\n")


@pytest.mark.parametrize("pattern, good", [
    (admin_key.SECRET_RE, "ab" * 32),
    (convex_instance_secret.HEX64, "ab" * 32),
    (convex_env.NAME_RE, "SITE_URL"),
    (caddy_config._SAFE_PATH, "/opt/homebrew/etc/Caddyfile"),  # pylint: disable=protected-access
    (backup.ZIP_RE, "snapshot_1.zip"),
], ids=["admin-key secret", "instance secret", "convex env name", "caddy path", "backup zip name"])
def test_compiled_patterns(pattern, good):
    assert pattern.match(good) and not pattern.match(good + "\n")


def test_talos_context_rename():
    assert talos._same_or_renamed("admin@joelclaw", "admin@joelclaw-1")  # pylint: disable=protected-access
    assert not talos._same_or_renamed("admin@joelclaw", "admin@joelclaw-1\n")  # pylint: disable=protected-access
