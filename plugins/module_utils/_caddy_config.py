# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Where the collection's two import lines go in the owner's main Caddyfile. Pure text, no I/O.

Caddy facts this relies on (caddyserver/caddy v2.11.4, commit e2eee6a7fce366321294c9c2a79f3146891dcbdf):
  - `import` is expanded at the token level wherever it appears, inside blocks too, and a relative path is
    taken from the importing file's directory (caddyconfig/caddyfile/parse.go doImport);
  - global options live only in the first block, the one without keys; any later key-less block is an
    error: "server block without any key is global configuration, and if used, it must be first"
    (caddyconfig/httpcaddyfile/httptype.go Setup);
  - in that block a later option of the same name replaces an earlier one, except `servers`, `log` and
    `default_bind`, which are collected; two `servers` options for one listener address are refused
    (httptype.go evaluateGlobalOptionsBlock).
So the sites file is imported at the top level (appended at the end of the main file), and the global
options file as the first line inside the global block, where the owner's own options after it win.
"""
from __future__ import absolute_import, annotations, division, print_function

import re

_IMPORT = re.compile(r'^\s*import\s+"?([^"\s]+)"?\s*$')

CREATED_HEADER = (
    "# Caddy's main config. joelclaw.macmini.caddy_tailscale added the two import lines below and keeps its\n"
    "# own sites and options in the files they name; your own sites and options belong in this file.\n"
)


class ConfigError(ValueError):
    """A main Caddyfile whose layout the import lines cannot be added to safely."""


def import_line(path):
    return 'import "%s"' % path


def _imported(line):
    """The path a line imports, or None."""
    match = _IMPORT.match(line.split("#", 1)[0])
    return match.group(1) if match else None


def _imports(lines, path):
    return [i for i, line in enumerate(lines) if _imported(line) == path]


def _first_token_line(lines):
    """Index of the first line that is not blank or a comment, or None."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


def _global_block_open(lines):
    """Index of the line opening the global options block, or None when the file has none."""
    first = _first_token_line(lines)
    if first is None:
        return None
    stripped = lines[first].split("#", 1)[0].strip()
    if stripped == "{":
        return first
    if stripped.startswith("{"):
        raise ConfigError(
            "line %d of the main Caddyfile opens the global options block with more on the same line (%r); "
            "put the opening { on a line of its own so the collection can add its import line after it"
            % (first + 1, lines[first].strip()))
    return None


def ensure_imports(text, global_path, sites_path):
    """The main Caddyfile with both import lines present once; the rest of the file is kept as it is."""
    if text is None or not text.strip():
        return (CREATED_HEADER + "{\n\t%s\n}\n\n%s\n" % (import_line(global_path), import_line(sites_path)))
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if not _imports(lines, global_path):
        opening = _global_block_open(lines)
        if opening is None:
            lines[0:0] = ["{\n", "\t%s\n" % import_line(global_path), "}\n", "\n"]
        else:
            lines.insert(opening + 1, "\t%s\n" % import_line(global_path))
    if not _imports(lines, sites_path):
        lines.append("\n%s\n" % import_line(sites_path))
    return "".join(lines)


def has_owner_content(text, global_path, sites_path):
    """Whether the main Caddyfile holds anything besides the collection's import lines (and comments)."""
    rest = []
    for line in (text or "").splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped or _imported(stripped) in (global_path, sites_path):
            continue
        rest.append(stripped)
    return rest not in ([], ["{", "}"])


def point_imports(text, mapping):
    """text with the import lines of the collection's files pointing at other paths (staged copies)."""
    out = []
    for line in text.splitlines(True):
        path = _imported(line)
        if path in mapping:
            indent = line[:len(line) - len(line.lstrip())]
            line = "%s%s\n" % (indent, import_line(mapping[path]))
        out.append(line)
    return "".join(out)


def remove_imports(text, global_path, sites_path):
    """text without the collection's two import lines: the inverse of ensure_imports.

    The blank line ensure_imports put before the sites import goes with it, and so does a global options block
    left empty at the top of the file (the one ensure_imports adds when the file had none); every other line
    is kept as it is.
    """
    lines = (text or "").splitlines(True)
    out = []
    for line in lines:
        path = _imported(line)
        if path == sites_path:
            if out and not out[-1].strip():
                out.pop()
            continue
        if path == global_path:
            continue
        out.append(line)
    first = _first_token_line(out)
    if (first is not None and out[first].strip() == "{" and first + 1 < len(out)
            and out[first + 1].strip() == "}"):
        drop = 3 if first + 2 < len(out) and not out[first + 2].strip() else 2
        del out[first:first + drop]
    return "".join(out)
