# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Say which migration log lines a RUST_LOG value would hide from upgrade.yml's migration gate."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# The lines the gate reads (get-convex/convex-backend at 94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731).
# tracing events without an explicit target take the module path as their target.
#   crates/migrations_model/src/lib.rs  tracing::warn!("Executing Migration {}/{}. {}")  -> migrations_model
#   crates/model/src/migrations.rs      tracing::info!("Migrated {}"), ("Migration complete") -> model::migrations
REQUIRED = (
    ("migrations_model", "warn", "Executing Migration N/M"),
    ("model::migrations", "info", "Migrated N / Migration complete"),
)

# tracing-core LevelFilter::from_str (0.1 series): names in any case, or 0-5.
_LEVELS = {"off": 0, "error": 1, "warn": 2, "info": 3, "debug": 4, "trace": 5}
# Directive::parse: a directive starts with an alphanumeric character, '-', ':' or '_'.
_TARGET = re.compile(r"^[\w:-]", re.UNICODE)


def _level(text):
    if text.isdigit() and text.isascii():
        return int(text) if int(text) <= 5 else None
    return _LEVELS.get(text.lower())


def _parse(value):
    """Static directives as (target or None, level), in order; or raise ValueError(reason).

    Mirrors tracing-subscriber 0.3.22 Builder::parse + Directive::parse (filter/env/builder.rs,
    filter/env/directive.rs) for the directives that filter by target only. Span and field
    directives apply inside spans only and are refused, since they cannot be checked here."""
    directives = []
    for raw in value.split(","):
        if raw == "":
            continue  # Builder::parse skips empty directives
        if raw != raw.strip():
            raise ValueError("directive %r has spaces around it; the backend's parser reads them as part of the "
                             "target, so remove them" % raw)
        if "[" in raw or "{" in raw:
            raise ValueError("directive %r filters by span or field, which this check cannot follow; use "
                             "target=level directives only" % raw)
        target, sep, level_text = raw.partition("=")
        if sep:
            level = _level(level_text) if level_text else 5  # "target=" enables every level
            if not target or not _TARGET.match(target) or level is None or "=" in level_text:
                raise ValueError("%r is not a valid directive" % raw)
            directives.append((target, level))
        elif _level(raw) is not None:
            directives.append((None, _level(raw)))  # a bare level is the global default
        elif _TARGET.match(raw):
            directives.append((raw, 5))  # a bare target enables every level of it
        else:
            raise ValueError("%r is not a valid directive" % raw)
    return directives


def _deciding(directives, target):
    """The directive that decides for `target`: the longest matching target wins, a later equal one
    replaces an earlier one (filter/directive.rs DirectiveSet::add and ::enabled)."""
    best = None
    for directive_target, level in directives:
        if directive_target is not None and not target.startswith(directive_target):
            continue
        length = -1 if directive_target is None else len(directive_target)
        if best is None or length >= best[0]:
            best = (length, directive_target, level)
    return best


def convex_rust_log_problems(value):
    """Return a list of problems (empty when the migration lines stay visible)."""
    if not isinstance(value, str):
        raise AnsibleFilterError("convex_rust_log_problems expects RUST_LOG as a string, got %s" % type(value).__name__)
    if value == "":
        return ["RUST_LOG is empty, which enables no directive: the backend logs nothing, the migration lines included"]
    try:
        directives = _parse(value)
    except ValueError as exc:
        return ["%s (the backend would ignore the whole value and log at INFO instead)" % exc]
    problems = []
    names = dict((level, name) for name, level in _LEVELS.items())
    for target, needed, lines in REQUIRED:
        deciding = _deciding(directives, target)
        if deciding is None:
            problems.append("no directive matches target %s, so its %s lines (%s) are off" % (target, needed.upper(), lines))
            continue
        _length, directive_target, level = deciding
        if level < _LEVELS[needed]:
            directive = names[level] if directive_target is None else "%s=%s" % (directive_target, names[level])
            problems.append("directive '%s' hides the %s lines of target %s (%s)" % (directive, needed.upper(), target, lines))
    return problems


class FilterModule(object):
    def filters(self):
        return {"convex_rust_log_problems": convex_rust_log_problems}
