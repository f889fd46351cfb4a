# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of Convex backup sets: pure planning, then what apply_retention touches on disk."""
from __future__ import annotations

import calendar
import json
import os
import time

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup


def ts(text):
    """Seconds for a UTC 'YYYY-MM-DD HH:MM'."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M")))


def plan(items, daily, weekly):
    keep, delete = backup.plan_retention([(n, ts(t)) for n, t in items], daily, weekly)
    return sorted(keep), delete


# ---------------------------------------------------------------------------- plan_retention
def test_daily_keeps_newest_of_each_recent_day():
    items = [("d1a", "2026-11-20 01:00"), ("d1b", "2026-11-20 23:00"), ("d2", "2026-11-19 03:00"),
             ("d3", "2026-11-18 03:00"), ("d4", "2026-11-17 03:00")]
    keep, delete = plan(items, 3, 0)
    assert keep == ["d1b", "d2", "d3"]
    assert delete == ["d1a", "d4"]


def test_daily_counts_days_that_have_backups_not_calendar_days():
    # A gap (the Mac was off) does not use up the daily slots.
    items = [("a", "2026-11-20 03:00"), ("b", "2026-11-10 03:00"), ("c", "2026-11-01 03:00")]
    keep, delete = plan(items, 2, 0)
    assert keep == ["a", "b"]
    assert delete == ["c"]


def test_weekly_keeps_newest_of_each_iso_week():
    # 2026-11-16 is a Monday: the 16th..20th are one ISO week, the 15th (Sunday) the one before.
    items = [("fri", "2026-11-20 03:00"), ("mon", "2026-11-16 03:00"), ("sun", "2026-11-15 03:00"),
             ("sat", "2026-11-14 03:00"), ("prev", "2026-11-06 03:00"), ("old", "2026-10-20 03:00")]
    keep, delete = plan(items, 0, 3)
    assert keep == ["fri", "prev", "sun"]
    assert delete == ["mon", "sat", "old"]


def test_daily_and_weekly_combine():
    items = [("n", "2026-11-20 03:00"), ("y", "2026-11-19 03:00"), ("w1", "2026-11-12 03:00"),
             ("w1b", "2026-11-11 03:00"), ("w2", "2026-11-05 03:00"), ("w3", "2026-10-29 03:00")]
    keep, delete = plan(items, 2, 3)
    assert keep == ["n", "w1", "w2", "y"]
    assert delete == ["w1b", "w3"]


@pytest.mark.parametrize("daily,weekly", [(0, 0), (0, 1), (1, 0)])
def test_newest_is_always_kept(daily, weekly):
    items = [("new", "2026-11-20 03:00"), ("old", "2026-11-01 03:00")]
    keep, delete = plan(items, daily, weekly)
    assert "new" in keep
    assert (delete == ["old"]) == (daily + weekly <= 1)


def test_input_order_does_not_matter():
    items = [("c", "2026-11-18 03:00"), ("a", "2026-11-20 03:00"), ("b", "2026-11-19 03:00")]
    assert plan(items, 1, 0) == (["a"], ["b", "c"])


def test_empty_and_negative():
    assert backup.plan_retention([], 7, 4) == ({}, [])
    with pytest.raises(ValueError):
        backup.plan_retention([("a", 1.0)], -1, 0)


def test_reasons_name_the_rule():
    keep, _delete = backup.plan_retention([("a", ts("2026-11-20 03:00"))], 1, 1)
    assert keep["a"] == ["daily 2026-11-20", "weekly 2026-W47", "newest"]


# ---------------------------------------------------------------------------- on disk
def make_set(directory, base, created, zip_bytes=b"PK-zip", manifest=True, env=True, size=None):
    (directory / (base + ".zip")).write_bytes(zip_bytes)
    if manifest:
        (directory / (base + ".manifest.json")).write_text(json.dumps({
            "file": base + ".zip", "created_unix": ts(created), "size": len(zip_bytes) if size is None else size}))
    if env:
        (directory / (base + ".env.json")).write_text('{"environmentVariables": {}}')


def names(directory):
    return sorted(os.listdir(directory))


def test_apply_deletes_whole_sets_and_keeps_the_rest(tmp_path):
    make_set(tmp_path, "s3", "2026-11-20 03:00")
    make_set(tmp_path, "s2", "2026-11-19 03:00")
    make_set(tmp_path, "s1", "2026-11-18 03:00")
    outcome = backup.apply_retention(str(tmp_path), 2, 0)
    assert outcome["deleted"] == ["s1.zip"]
    assert [k["name"] for k in outcome["kept"]] == ["s3.zip", "s2.zip"]
    assert names(tmp_path) == ["s2.env.json", "s2.manifest.json", "s2.zip", "s3.env.json", "s3.manifest.json", "s3.zip"]


def test_dry_run_deletes_nothing(tmp_path):
    make_set(tmp_path, "s2", "2026-11-19 03:00")
    make_set(tmp_path, "s1", "2026-11-18 03:00")
    before = names(tmp_path)
    outcome = backup.apply_retention(str(tmp_path), 1, 0, dry_run=True)
    assert outcome["deleted"] == ["s1.zip"]
    assert names(tmp_path) == before


def test_incomplete_and_partial_files_are_never_touched(tmp_path):
    make_set(tmp_path, "good", "2026-11-20 03:00")
    make_set(tmp_path, "nomanifest", "2020-01-01 03:00", manifest=False)
    make_set(tmp_path, "badsize", "2020-01-01 03:00", size=999)
    (tmp_path / "orphan.manifest.json").write_text(json.dumps({"created_unix": 1.0, "size": 1}))
    (tmp_path / "broken.zip").write_bytes(b"x")
    (tmp_path / "broken.manifest.json").write_text("{not json")
    (tmp_path / ".snapshot_x.zip.abc.part").write_bytes(b"partial")
    (tmp_path / ".staging").mkdir()
    (tmp_path / ".staging" / "snapshot_y.zip").write_bytes(b"staged")
    before = names(tmp_path)
    outcome = backup.apply_retention(str(tmp_path), 0, 0)
    assert outcome["deleted"] == []
    assert names(tmp_path) == before
    assert sorted(i["name"] for i in outcome["incomplete"]) == ["badsize", "broken", "nomanifest", "orphan"]
    assert sorted(outcome["partial"]) == [".snapshot_x.zip.abc.part", os.path.join(".staging", "snapshot_y.zip")]


def test_newest_good_set_survives_when_newer_sets_are_incomplete(tmp_path):
    make_set(tmp_path, "old_good", "2026-11-01 03:00")
    make_set(tmp_path, "older_good", "2026-10-01 03:00")
    make_set(tmp_path, "new_broken", "2026-11-20 03:00", size=12345)
    backup.apply_retention(str(tmp_path), 0, 0)
    assert "old_good.zip" in names(tmp_path)
    assert "older_good.zip" not in names(tmp_path)
    assert "new_broken.zip" in names(tmp_path)


def test_missing_directory_is_empty(tmp_path):
    assert backup.apply_retention(str(tmp_path / "nope"), 1, 1) == {"kept": [], "deleted": [], "incomplete": [], "partial": []}
