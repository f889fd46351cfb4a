# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared contract (roles/contract/defaults/main.yml), read the way users set it (inventory files).

* Where it lives. The contract is the defaults of the collection's contract role, which every role depends
  on, so an installed collection resolves it without the repository. Every role's meta/argument_specs.yml
  lists each contract variable the role reads (in a Jinja expression or a conditional), so the role's
  argument validation checks it before any change and ansible-doc shows it.

* NodePorts. Since Kubernetes 1.29 the API server gives a Service without an explicit nodePort a
  port from the upper band of the range first (KEP-3668, kubernetes/enhancements
  keps/sig-network/3668-reserved-service-nodeport-range/README.md: band offset
  min(max(16, size/32), 128), 86 for the default 30000-32767, so 30000-30085 is the static band).
  Ports published at cluster creation must be static choices, so they belong in 30000-30085.
* One Kubernetes version: colima_talos creates the cluster with it and the manifests are validated
  against its schemas; neither role may carry a version of its own.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbook_runner import RENDER_CONVERGE, ansible_playbook_with_inventory, write_inventory

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DEFAULTS = ROOT / "roles" / "contract" / "defaults" / "main.yml"
GROUP_VARS = yaml.safe_load(CONTRACT_DEFAULTS.read_text())
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir() and p.name != "contract")
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))

# KEP-3668 "Proposed Services NodePorts allocation model", default --service-node-port-range.
RANGE_LOW, RANGE_HIGH = 30000, 32767
STATIC_BAND_END = RANGE_LOW + min(max(16, (RANGE_HIGH - RANGE_LOW) // 32), 128) - 1

CONVERGE = RENDER_CONVERGE


# ---------------------------------------------------------------- where the contract lives
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
CONDITIONALS = {"when", "that", "failed_when", "changed_when", "until"}


def _conditionals(node):
    """The values of conditional keys (bare Jinja expressions) anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONDITIONALS:
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from _conditionals(value)
    elif isinstance(node, list):
        for item in node:
            yield from _conditionals(item)


def contract_reads(role_dir: Path) -> set:
    """The contract variables a role reads: named in a Jinja expression ({{ }}, {% %}) or a conditional
    (when, that, ...) of its tasks, handlers, templates, defaults or vars. Comments do not count."""
    expressions = []
    for sub in ("tasks", "handlers", "templates", "defaults", "vars"):
        for path in sorted((role_dir / sub).rglob("*")):
            if not path.is_file():
                continue
            text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)
            expressions += JINJA.findall(text)
            if path.suffix in (".yml", ".yaml"):
                expressions += [str(value) for value in _conditionals(yaml.safe_load(text))]
    text = "\n".join(expressions)
    return {name for name in GROUP_VARS if re.search(r"(?<![\w.])%s\b" % name, text)}


def argument_spec_options(role_dir: Path) -> set:
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for spec in specs.values() for name in (spec.get("options") or {})}


def test_every_role_depends_on_the_contract_role():
    assert len(ROLES) == 7, ROLES
    for role in ROLES:
        meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text())
        assert {"role": "joelclaw.macmini.contract"} in meta["dependencies"], role


def test_the_contract_reader_sees_expressions_and_conditionals_not_comments(tmp_path):
    role = tmp_path / "demo"
    (role / "tasks").mkdir(parents=True)
    (role / "templates").mkdir()
    (role / "tasks" / "main.yml").write_text(
        "# convex_namespace in a comment\n"
        "- ansible.builtin.debug:\n    msg: \"{{ convex_admin_url }} and convex_image_sha in prose\"\n"
        "  when: convex_k8s_apply | bool\n"
        "- ansible.builtin.assert:\n    that: [convex_backup_dir | length > 0]\n")
    (role / "templates" / "x.j2").write_text("{# convex_state_dir #}{% if convex_instance_name %}{{ x.convex_talosconfig }}{% endif %}")
    assert contract_reads(role) == {"convex_admin_url", "convex_k8s_apply", "convex_backup_dir", "convex_instance_name"}


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_list_every_contract_variable_the_role_reads(role):
    """A role that reads a contract variable its argument_specs do not list fails here: add it under the
    role's "contract (roles/contract)" options (description "Contract. ...", required: true, no default)."""
    role_dir = ROOT / "roles" / role
    missing = sorted(contract_reads(role_dir) - argument_spec_options(role_dir))
    assert not missing, "roles/%s/meta/argument_specs.yml does not list: %s" % (role, ", ".join(missing))


def test_the_contract_role_documents_each_default_as_it_is():
    """roles/contract: defaults, argument_specs (entry point "contract", with the same defaults) and README
    name the same variables. The entry point is not main, so running the role validates nothing (plays
    without facts may list it); each role validates the contract variables it reads."""
    specs = yaml.safe_load((ROOT / "roles" / "contract" / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert list(specs) == ["contract"]
    options = specs["contract"]["options"]
    assert list(options) == list(GROUP_VARS)
    readme = (ROOT / "roles" / "contract" / "README.md").read_text()
    problems = ["%s: argument_specs default %r != defaults %r" % (name, options[name].get("default"), value)
                for name, value in GROUP_VARS.items() if options[name].get("default") != value]
    problems += ["%s is not in README.md" % name for name in GROUP_VARS if name not in readme]
    assert not problems, "\n".join(problems)
    assert not (ROOT / "roles" / "contract" / "tasks").exists(), "the contract role has no tasks"


def test_the_static_band_is_the_one_the_kep_computes():
    assert STATIC_BAND_END == 30085


def test_group_vars_node_ports_are_static_choices():
    ports = {name: spec["node_port"] for name, spec in GROUP_VARS["convex_published_ports"].items()}
    outside = {name: port for name, port in ports.items() if not RANGE_LOW <= port <= STATIC_BAND_END}
    assert not outside, "in the band Kubernetes assigns automatically first: %s" % outside
    assert len(set(ports.values())) == len(ports), ports


def render(tmp_path, **host_vars):
    settings = {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False}
    settings.update(host_vars)
    inventory = write_inventory(tmp_path, settings)
    play = tmp_path / "converge.yml"
    play.write_text(CONVERGE)
    return ansible_playbook_with_inventory(tmp_path / "run", play, inventory)


@pytest.mark.parametrize("name,port", [("api", 30210), ("site", 30086), ("dashboard", 30791), ("api", 29999)])
def test_a_node_port_outside_the_static_band_is_refused_before_any_change(tmp_path, name, port):
    ports = json.loads(json.dumps(GROUP_VARS["convex_published_ports"]))
    ports[name]["node_port"] = port
    run = render(tmp_path, convex_published_ports=ports)
    assert run.rc != 0, run.output
    assert "convex_published_ports.%s.node_port is %d; expected 30000-30085" % (name, port) in run.output, run.output
    assert "KEP-3668" in run.output
    assert not (tmp_path / "state").exists(), "a failed validation still wrote files"


# ---------------------------------------------------------------- one Kubernetes version
def resolved(tmp_path, expression):
    """Template `expression` on the inventory host with the role defaults loaded, as a play would."""
    inventory = write_inventory(tmp_path, {})
    play = tmp_path / "resolve.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "macmini", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(ROOT / "roles" / role / "defaults" / "main.yml")}}
            for role in ("contract", "colima_talos", "convex_backend")
        ] + [{"ansible.builtin.debug": {"msg": "RESOLVED=%s" % expression}}],
    }]))
    run = ansible_playbook_with_inventory(tmp_path / "run", play, inventory)
    assert run.rc == 0, run.output
    return re.search(r"RESOLVED=(\S+)", run.stdout).group(1).strip("'\"")


def test_the_cluster_is_created_with_the_contract_version(tmp_path):
    version = GROUP_VARS["convex_kubernetes_version"]
    assert re.fullmatch(r"1\.[0-9]+\.[0-9]+", version), version
    assert resolved(tmp_path, "{{ colima_talos_kubernetes_version }}") == version


def test_no_role_carries_a_kubernetes_version_of_its_own():
    literal = re.compile(r"""kubernetes_version:\s*["']?v?1\.[0-9]+""")
    found = []
    for role in sorted((ROOT / "roles").iterdir()):
        if role.name == "contract":  # the one place the version is set
            continue
        for path in [role / "defaults" / "main.yml", role / "meta" / "argument_specs.yml", role / "README.md"]:
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if literal.search(line):
                    found.append("%s:%d: %s" % (path.relative_to(ROOT), number, line.strip()))
    assert not found, "\n".join(found)


def test_the_manifests_are_validated_at_the_contract_version():
    """Both render checks (role tests and molecule convex_render) take the version from the contract."""
    import test_convex_backend  # pylint: disable=import-outside-toplevel
    assert test_convex_backend.K8S_VERSION == GROUP_VARS["convex_kubernetes_version"]
    verify = (ROOT / "molecule" / "convex_render" / "verify.yml").read_text()
    assert "'-k', convex_kubernetes_version]" in verify
    # kubernetes-validate ships strict schemas for that version (an unknown version would fail every render test).
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}]}}
    proc = subprocess.run([KUBERNETES_VALIDATE, "--strict", "-k", GROUP_VARS["convex_kubernetes_version"], "-"],
                          input=json.dumps(service), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the restore drill's published port
DRILL_PLAY = ROOT / "playbooks" / "restore-drill.yml"


def drill_defaults(tmp_path, host_vars):
    """The restore drill playbook's own vars (its URL and API NodePort), templated with the contract and inventory."""
    play_vars = yaml.safe_load(DRILL_PLAY.read_text())[0]["vars"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    play = tmp_path / "drill.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "macmini", "gather_facts": False, "vars": play_vars,
        "roles": [{"role": "joelclaw.macmini.contract"}],
        "tasks": [{"ansible.builtin.debug": {"msg": "DRILL={{ __drill_url }}|{{ __drill_api_node_port }}"}}]}]))
    run = ansible_playbook_with_inventory(tmp_path / "run", play, write_inventory(tmp_path, host_vars))
    assert run.rc == 0, run.output
    return re.search(r"DRILL=(\S+?)['\"]?$", run.stdout, re.M).group(1)


def test_the_restore_drill_port_is_published_by_default_and_the_drill_follows_it(tmp_path):
    # Without a published drill port, the monthly drill cannot reach its backend on the Mac.
    assert GROUP_VARS["convex_published_ports"]["drill"] == {"host_port": 3213, "node_port": 30013}
    (tmp_path / "published").mkdir()
    assert resolved(tmp_path / "published", "{{ colima_talos_published_ports.drill.host_port }}") == "3213"
    assert drill_defaults(tmp_path / "default", {}) == "http://127.0.0.1:3213|30013"
    ports = json.loads(json.dumps(GROUP_VARS["convex_published_ports"]))
    ports["drill"] = {"host_port": 4213, "node_port": 30020}
    moved = drill_defaults(tmp_path / "moved", {"convex_published_ports": ports, "convex_host_bind_address": "127.0.0.2"})
    assert moved == "http://127.0.0.2:4213|30020"
