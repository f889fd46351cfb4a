# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conventions every role follows (issue 13, "Names that explain themselves"), read from the files.

* One spelling for task files: words joined by underscores (setup_Darwin.yml), never hyphens, and
  every include_tasks / import_tasks / tasks_from in the repository names a file that exists.
* Secrets: every role option whose name says it holds a secret (secret, password, token, key, or a
  URL that can carry credentials) is no_log in meta/argument_specs.yml, suboptions included. The
  deliberate exceptions are listed below with the reason.
* Registered results start with __ so none shares a prefix with an input variable.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
TASK_FILE = re.compile(r"^[A-Za-z0-9_]+\.yml$")
# include_tasks: x.yml, import_tasks: "x.yml", tasks_from: x.yml, tasks_from="x.yml" (tests).
INCLUDE = re.compile(r"""(?:include_tasks|import_tasks|tasks_from)\s*[:=]\s*["']?((?:[^"'\s{]|\{\{.*?\}\})+\.yml)""")
SEARCHED = ("roles", "playbooks", "molecule", "tests", "site.yml")


def test_task_files_are_spelled_with_underscores():
    files = [p for role in ROLES for p in (role / "tasks").glob("*.yml")]
    assert len(files) > 20
    bad = [str(p.relative_to(ROOT)) for p in files if not TASK_FILE.match(p.name)]
    assert not bad, "task files must use underscores, not hyphens: %s" % bad


def test_every_included_task_file_exists():
    names = {p.name for role in ROLES for p in (role / "tasks").glob("*.yml")}
    seen = []
    for top in SEARCHED:
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.suffix not in (".yml", ".py") or "output" in path.parts or path == Path(__file__):
                continue
            for ref in INCLUDE.findall(path.read_text(errors="replace")):
                # A templated name ("setup_{{ ansible_facts['system'] }}.yml") must exist for both systems.
                refs = [ref.replace(ref[ref.index("{{"):ref.rindex("}}") + 2], osname) for osname in ("Darwin", "Linux")] \
                    if "{{" in ref else [ref]
                seen += [(str(path.relative_to(ROOT)), r) for r in refs]
    assert len(seen) > 10 and any("{{" in line for line in INCLUDE.findall((ROOT / "roles/caddy_tailscale/tasks/main.yml").read_text()))
    missing = [(where, ref) for where, ref in seen if Path(ref).name not in names]
    assert not missing, missing


SECRET_NAME = re.compile(r"secret|password|passwd|token|key|_url$")
# Options whose name matches SECRET_NAME but whose value is no secret. Flags and numbers (type bool,
# int) and names of files, Kubernetes objects or environment variables (_file, _name) are exempt by rule.
NOT_SECRET = {
    "convex_auth_url": "the backend's API endpoint (http(s)://host:port), no credentials",
    "convex_auth_site_url": "the public HTTP Actions origin",
    "convex_auth_convex_site_url": "the HTTP Actions origin the backend itself uses",
    "convex_backend_inngest_url": "the Inngest endpoint; its event key is a separate option",
    "convex_backend_admin_url": "the loopback API URL the admin key is verified against",
    "convex_backup_url": "the backend's API endpoint the job exports from",
    "convex_dashboard_deployment_url": "the backend's API endpoint the dashboard calls",
    "convex_health_schedule_url": "the backend's API endpoint the probes call",
    "convex_health_schedule_site_url": "the public HTTP Actions origin the probes call",
    "convex_health_schedule_dashboard_url": "the dashboard endpoint the probes call",
    "convex_health_schedule_inngest_url": "the Inngest endpoint; its event key is a separate option",
    "convex_admin_url": "contract: the backend's API on loopback (http://host:port), no credentials",
    "convex_dashboard_url": "contract: the dashboard's public origin, no credentials",
}
# Options that hold secrets although their name does not say so.
SECRET_BY_CONTENT = {
    "convex_auth_providers.env": "AUTH_<PROVIDER>_ID/SECRET from a vault",
    "convex_backend_deployment_env": "function environment (API keys of the services the functions call)",
    "convex_backend_extra_env": "container environment (the S3 storage knobs take AWS keys)",
    "convex_auth_extra_env": "more Convex Auth deployment variables (a provider's secret may go here)",
}


def argument_spec_options():
    """(role, dotted option name, spec) for every option and suboption of every role entry point."""
    found = []

    def walk(role, options, path):
        for name, spec in (options or {}).items():
            found.append((role, path + name, spec))
            walk(role, spec.get("options"), path + name + ".")

    for spec_file in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_file.parts[-3]
        for entry in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            walk(role, entry.get("options"), "")
    return found


def secret_by_name(option, spec):
    name = option.rsplit(".", 1)[-1]
    if spec.get("type") in ("bool", "int") or name.endswith(("_file", "_name")):
        return False
    return bool(SECRET_NAME.search(name)) and option not in NOT_SECRET


OPTIONS = argument_spec_options()


@pytest.mark.parametrize("role", sorted({role for role, _o, _s in OPTIONS}))
def test_secret_options_are_no_log(role):
    options = [(option, spec) for r, option, spec in OPTIONS if r == role]
    secrets = [option for option, spec in options if secret_by_name(option, spec) or option in SECRET_BY_CONTENT]
    missing = [option for option in secrets if spec_of(options, option).get("no_log") is not True]
    assert not missing, "%s: set no_log: true in meta/argument_specs.yml for %s" % (role, missing)


def spec_of(options, wanted):
    return next(spec for option, spec in options if option == wanted)


def test_the_secret_check_sees_the_known_secrets_and_exceptions():
    names = {option for _r, option, _s in OPTIONS}
    flagged = {option for _r, option, spec in OPTIONS if secret_by_name(option, spec)}
    # Exceptions and content-secrets must name real options, so a rename cannot leave them stale.
    assert set(NOT_SECRET) <= names and set(SECRET_BY_CONTENT) <= names
    assert {"convex_backend_instance_secret", "convex_backend_postgres_url", "convex_backend_redis_url",
            "convex_dashboard_admin_key", "caddy_tailscale_sites.basic_auth_password",
            "caddy_tailscale_dashboard_basic_auth_password", "convex_backup_offsite_password",
            "convex_auth_github_secret", "convex_health_schedule_inngest_event_key",
            "convex_health_schedule_webhook_url"} <= flagged


REGISTER = re.compile(r"^\s*register:\s*(\S+)\s*$", re.M)


def test_registered_results_never_share_an_input_prefix():
    """Roles and playbooks register __<role or playbook>_...: an input is never named so (ansible-lint's
    var-naming skips registered names starting with __), so a result cannot shadow or look like one."""
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "playbooks").glob("*.yml"))
    registered = [(str(path.relative_to(ROOT)), name) for path in files for name in REGISTER.findall(path.read_text())]
    assert len(registered) > 50
    bad = [(where, name) for where, name in registered if not name.startswith("__")]
    assert not bad, bad


def test_no_task_reads_a_result_under_its_unprefixed_name():
    """A result registered as __x and read as x (a rename that missed a reader) fails only when that task runs:
    on the Mac, for the launchd tasks. Reads look like x.attr, x is test, x | filter, x['key']."""
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "roles").glob("*/handlers/*.yml")) \
        + sorted((ROOT / "roles").glob("*/templates/*.j2")) + sorted((ROOT / "playbooks").glob("*.yml"))
    texts = {str(path.relative_to(ROOT)): path.read_text() for path in files}
    options = {option for _role, option, _spec in OPTIONS}
    # x may also be a role option in its own right (convex_backend_instance_secret): those reads are the option's.
    registered = {name[2:] for text in texts.values() for name in REGISTER.findall(text) if name.startswith("__")} - options
    assert len(registered) > 50
    stale = [(where, name) for where, text in texts.items() for name in sorted(registered)
             if re.search(r"(?<![\w])%s(\.[a-z_]|\s+is\s|\s*\||\[)" % re.escape(name), text)]
    assert not stale, stale
