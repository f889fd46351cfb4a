# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RUST_LOG values that keep or hide the migration lines upgrade.yml waits for.

The expectations follow tracing-subscriber 0.3.22 (the version in convex-backend's Cargo.lock at
94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731): tracing-subscriber/src/filter/env/directive.rs (one
directive: `target=level`, a bare level is global, a bare target means every level),
filter/directive.rs (the most specific directive whose target is a string prefix of the event's
target decides; a later equal directive replaces an earlier one; no match means disabled) and
filter/env/builder.rs (directives split on ','; one invalid directive rejects the whole value, and
crates/cmd_util/src/env.rs then falls back to INFO).
"""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.joelclaw.macmini.plugins.filter.convex_rust_log_problems import convex_rust_log_problems


@pytest.mark.parametrize("value", [
    "info",
    "INFO",
    "3",
    "debug",
    "trace",
    "warn,model::migrations=info",
    "error,migrations_model=warn,model::migrations=info",
    "info,model=warn,model::migrations=info",            # the longer target wins
    "info,model::migrations=warn,model::migrations=info",  # the later equal directive replaces
    "info,model::migrations_other=error",                 # not a prefix of model::migrations
    "info,common=debug,,",                                # empty directives are skipped
    "migrations_model=warn,model=info",
    "model::migrations,migrations_model",                 # a bare target enables every level
])
def test_values_that_keep_the_migration_lines(value):
    assert convex_rust_log_problems(value) == []


@pytest.mark.parametrize("value,needle", [
    ("warn", "model::migrations"),
    ("error", "migrations_model"),
    ("off", "migrations_model"),
    ("0", "model::migrations"),
    ("", "empty"),
    ("info,model=warn", "model::migrations"),
    ("info,model::migrations=warn", "directive 'model::migrations=warn'"),
    ("info,migrations_model=error", "migrations_model"),
    ("info,mode=warn", "directive 'mode=warn'"),           # targets match as string prefixes
    ("common=info", "no directive matches"),             # no global level: other targets are off
    ("info,model::migrations=info,model::migrations=warn", "model::migrations"),
])
def test_values_that_hide_a_migration_line(value, needle):
    problems = convex_rust_log_problems(value)
    assert problems, value
    assert any(needle in problem for problem in problems), problems


@pytest.mark.parametrize("value,needle", [
    ("info,model=loud", "not a valid directive"),
    ("info, model=warn", "spaces"),
    ("info,model[span]=warn", "span"),
    ("info,model[{x=1}]=warn", "span"),
    ("=info", "not a valid directive"),
])
def test_values_the_check_cannot_read_are_refused(value, needle):
    problems = convex_rust_log_problems(value)
    assert any(needle in problem for problem in problems), problems


def test_not_a_string_is_an_error():
    with pytest.raises(AnsibleFilterError):
        convex_rust_log_problems(["info"])
