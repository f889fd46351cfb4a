# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection argument spec and the joelclaw.macmini.convex doc fragment say the same thing, and
every module that talks to the backend takes its connection from them (as kubernetes.core's
AUTH_ARG_SPEC and k8s_auth_options do)."""
from __future__ import annotations

import ast
import pathlib
import re

import yaml

from ansible_collections.joelclaw.macmini.plugins.doc_fragments.convex import ModuleDocFragment
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_connection as connection

MODULES = pathlib.Path(__file__).resolve().parents[3].parent / "plugins" / "modules"
FIELDS = ("type", "required", "default", "choices", "elements")


def documented(fragment_text):
    return yaml.safe_load(fragment_text)["options"]


def same(spec, docs):
    """Every option of spec documented with the same type, required, default, choices and elements."""
    assert sorted(spec) == sorted(docs)
    for name, option in spec.items():
        for field in FIELDS:
            want = option.get(field, False if field == "required" else None)
            got = docs[name].get(field, False if field == "required" else None)
            assert want == got, "%s.%s: spec %r, doc fragment %r" % (name, field, want, got)


def test_connection_spec_matches_the_doc_fragment():
    """DOCUMENTATION plus TLS (the two fragments every module with an admin key extends), with no option in both:
    the TLS options are written once."""
    base, tls = documented(ModuleDocFragment.DOCUMENTATION), documented(ModuleDocFragment.TLS)
    assert not set(base) & set(tls)
    same(connection.CONNECTION_ARGUMENT_SPEC, dict(base, **tls))


def test_tls_spec_matches_the_tls_doc_fragment():
    same(connection.TLS_ARGUMENT_SPEC, documented(ModuleDocFragment.TLS))


def test_import_and_export_specs_match_their_doc_fragments():
    same(connection.IMPORT_ARGUMENT_SPEC, documented(ModuleDocFragment.IMPORT))
    same(connection.EXPORT_ARGUMENT_SPEC, documented(ModuleDocFragment.EXPORT))


def test_the_admin_key_is_no_log_and_exclusive_with_the_env_file():
    assert connection.CONNECTION_ARGUMENT_SPEC["admin_key"]["no_log"] is True
    assert ("admin_key", "admin_key_env_file") in connection.CONNECTION_MUTUALLY_EXCLUSIVE


def test_every_module_with_an_admin_key_takes_the_shared_connection():
    """A module that takes admin_key builds its AnsibleModule with connection_module and documents
    it with the joelclaw.macmini.convex fragment; none spells url/admin_key itself."""
    users = []
    for path in sorted(MODULES.glob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        docs = yaml.safe_load(next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                                   and getattr(node.targets[0], "id", None) == "DOCUMENTATION"))
        fragments = docs.get("extends_documentation_fragment") or []
        assert "ConvexClient(" not in text, "%s builds its own client; use _convex_connection.connect" % path.name
        if "_convex_connection import" not in text or path.stem == "convex_admin_key":
            continue  # convex_admin_key makes the key: it takes url and TLS, not an admin key
        users.append(path.stem)
        assert "connection_module(" in text, path.name
        # The shared options are never declared again (site_url, dashboard_url are other options).
        assert not re.search(r"(?<![\w])(admin_key|url)=dict\(", text), path.name
        assert "joelclaw.macmini.convex" in fragments and "joelclaw.macmini.convex.tls" in fragments, path.name
    assert len(users) >= 7, users
