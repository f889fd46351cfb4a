# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module documents check_mode and diff_mode through the shared joelclaw.macmini.attributes fragment
(what they mean) plus its own support level, and the action_group attribute names exactly the modules of
meta/runtime.yml's action group. The fragments are merged as ansible-doc merges them (ansible.utils.plugin_docs
merge_fragment: the module's own keys win over a fragment's)."""
from __future__ import annotations

import ast
import importlib
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3].parent
MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))
GROUPS = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["action_groups"]
SUPPORT = ("full", "partial", "none", "N/A")


def documentation(path):
    tree = ast.parse(path.read_text())
    return yaml.safe_load(next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                               and getattr(node.targets[0], "id", None) == "DOCUMENTATION"))


def fragment(name):
    """The YAML of joelclaw.macmini.<file>[.<var>], read from the collection's doc_fragments."""
    parts = name.split(".")
    assert parts[:2] == ["joelclaw", "macmini"], name
    cls = importlib.import_module("ansible_collections.joelclaw.macmini.plugins.doc_fragments." + parts[2]).ModuleDocFragment
    return yaml.safe_load(getattr(cls, parts[3].upper() if len(parts) > 3 else "DOCUMENTATION"))


def merged_attributes(docs):
    attributes = {key: dict(value) for key, value in (docs.get("attributes") or {}).items()}
    for name in docs.get("extends_documentation_fragment") or []:
        for key, value in (fragment(name).get("attributes") or {}).items():
            attributes[key] = dict(value, **attributes.get(key, {}))
    return attributes


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_check_and_diff_mode_are_documented_once_with_the_modules_support(path):
    docs = documentation(path)
    assert "joelclaw.macmini.attributes" in (docs.get("extends_documentation_fragment") or []), path.stem
    own = docs.get("attributes") or {}
    # What the attributes mean lives in the fragment only; a module states support and details.
    assert not any("description" in value for value in own.values()), path.stem
    attributes = merged_attributes(docs)
    for key in ("check_mode", "diff_mode"):
        assert attributes[key]["description"] and attributes[key]["support"] in SUPPORT, (path.stem, key)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_action_group_attribute_names_the_runtime_group(group):
    members = set()
    for path in MODULES:
        attribute = merged_attributes(documentation(path)).get("action_group")
        if attribute:
            assert attribute["support"] == "full" and attribute["description"], path.stem
            if "joelclaw.macmini." + group in attribute["membership"]:
                members.add(path.stem)
    assert members == set(GROUPS[group])
