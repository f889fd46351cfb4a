# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection's import lines go in the owner's main Caddyfile (the real Caddy checks the result in
tests/roles/test_caddy_tailscale_render.py and molecule/coexist)."""
from __future__ import annotations

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_config import (
    ConfigError,
    ensure_imports,
    has_owner_content,
    point_imports,
    remove_imports,
)

G = "/etc/caddy/joelclaw-macmini.global.caddyfile"
S = "/etc/caddy/joelclaw-macmini.caddyfile"


def test_an_owner_file_with_a_global_block_gains_the_lines_inside_it_and_at_the_end_once():
    owner = "# mine\n{\n\temail me@example.com\n}\n\nexample.com {\n\trespond hi\n}"
    once = ensure_imports(owner, G, S)
    assert once == ('# mine\n{\n\timport "%s"\n\temail me@example.com\n}\n\nexample.com {\n\trespond hi\n}\n'
                    '\nimport "%s"\n' % (G, S))
    assert ensure_imports(once, G, S) == once
    assert has_owner_content(once, G, S)


def test_an_owner_file_without_a_global_block_gets_one_at_the_top():
    owner = "example.com {\n\trespond hi\n}\n"
    out = ensure_imports(owner, G, S)
    assert out.startswith('{\n\timport "%s"\n}\n\nexample.com {' % G)
    assert ensure_imports(out, G, S) == out


def test_a_missing_or_empty_main_file_holds_only_the_imports():
    for text in (None, "", "\n"):
        out = ensure_imports(text, G, S)
        assert [line for line in out.splitlines() if line and not line.startswith("#")] == [
            "{", '\timport "%s"' % G, "}", 'import "%s"' % S]
        assert not has_owner_content(out, G, S)


def test_an_import_line_written_without_quotes_is_found_and_not_added_again():
    owner = "{\n\timport %s\n}\nimport %s\n" % (G, S)
    assert ensure_imports(owner, G, S) == owner


def test_a_global_block_opened_with_more_on_its_line_is_refused_before_any_change():
    with pytest.raises(ConfigError, match="put the opening { on a line of its own"):
        ensure_imports("{ admin off\n}\n", G, S)


def test_staged_copies_are_imported_in_place_of_the_real_files():
    out = point_imports(ensure_imports(None, G, S), {G: "/etc/caddy/.g.staged", S: "/etc/caddy/.s.staged"})
    assert '\timport "/etc/caddy/.g.staged"\n' in out and '\nimport "/etc/caddy/.s.staged"\n' in out
    assert G not in out.replace("joelclaw-macmini.caddy_tailscale", "")


@pytest.mark.parametrize("owner", [
    "# mine\n{\n\temail me@example.com\n}\n\nexample.com {\n\trespond hi\n}\n",
    "example.com {\n\trespond hi\n}\n",
    "example.com {\n\timport snippets/*\n}\n\n\n",
])
def test_teardown_removes_exactly_what_ensure_imports_added(owner):
    assert remove_imports(ensure_imports(owner, G, S), G, S) == owner


def test_teardown_keeps_an_owners_import_of_another_file_and_its_global_options():
    text = '{\n\timport "%s"\n\tadmin off\n}\nimport other.caddyfile\n\nimport %s\n' % (G, S)
    assert remove_imports(text, G, S) == "{\n\tadmin off\n}\nimport other.caddyfile\n"
