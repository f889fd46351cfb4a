# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_auth against the Convex stand-in (in-process on 127.0.0.1), with real ansible-playbook runs.

The variables land on the deployment, a re-run changes nothing, rotation happens only when asked,
a -vvv run prints none of the secret values, bad input fails before any change, and the hairpin
check fails with a hint when the site URL does not answer.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from playbook_runner import ansible_playbook_hosts, failure_of, host_name, output_of

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "standins" / "convex"))
import convex_auth_site  # noqa: E402  pylint: disable=wrong-import-position
import convex_standin  # noqa: E402  pylint: disable=wrong-import-position

GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
# Test fixtures, not real secrets.
GITHUB_ID = "Iv1.test0github0id"
GITHUB_SECRET = "ghsecret-" + "5e" * 16
GOOGLE_SECRET = "googlesecret-" + "9a" * 12
RESEND_KEY = "re_" + "7c" * 14
# A secret a user may put in convex_auth_extra_env (issue 13: it is no_log like the providers' env).
EXTRA_ENV_SECRET = "auth-extra-sentinel-" + "3d" * 12

PLAY = """
- name: Converge Convex Auth.
  hosts: localhost
  gather_facts: false
  roles:
    - role: joelclaw.macmini.convex_auth
"""


def flat(text):
    """Output with the YAML callback's line wrapping undone."""
    return " ".join(text.split())


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % sock.getsockname()[1]


@pytest.fixture
def standin():
    server = convex_standin.ConvexStandin("joelclaw", secrets.token_hex(32), site_port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def host_variables(standin, state_dir):
    """The contract and what a user sets for Convex Auth against this stand-in, state under state_dir."""
    variables = dict(GROUP_VARS)
    variables.update({
        "convex_k8s_apply": False,
        "convex_state_dir": str(state_dir),
        "convex_auth_enabled": True,
        "convex_auth_url": standin.url,
        "convex_auth_admin_key": standin.admin_key(),
        "convex_auth_convex_site_url": standin.site_url,
        "convex_auth_site_url": "http://app.convex.test:5173",
        "convex_auth_github_id": GITHUB_ID,
        "convex_auth_github_secret": GITHUB_SECRET,
        "convex_auth_providers": [
            {"name": "google", "env": {"AUTH_GOOGLE_ID": "google-id.apps", "AUTH_GOOGLE_SECRET": GOOGLE_SECRET}},
            {"name": "resend", "oauth": False, "env": {"AUTH_RESEND_KEY": RESEND_KEY}},
        ],
    })
    return variables


@pytest.fixture
def base_vars(standin, tmp_path):
    return host_variables(standin, tmp_path / "state")


def key_file(variables):
    return Path(variables["convex_state_dir"]) / "convex-auth-jwt-key.pem"


def test_converges_idempotently_and_never_prints_a_secret(run_playbook, standin, base_vars):
    base_vars = dict(base_vars, convex_auth_extra_env={"AUTH_EXTRA_TOKEN": EXTRA_ENV_SECRET})
    first = run_playbook(PLAY, base_vars, check=False, verbosity=3)
    assert first.rc == 0, first.output
    env = standin.state.env
    assert sorted(env) == ["AUTH_EXTRA_TOKEN", "AUTH_GITHUB_ID", "AUTH_GITHUB_SECRET", "AUTH_GOOGLE_ID",
                           "AUTH_GOOGLE_SECRET", "AUTH_RESEND_KEY", "JWKS", "JWT_PRIVATE_KEY", "SITE_URL"]
    assert env["AUTH_EXTRA_TOKEN"] == EXTRA_ENV_SECRET
    assert env["SITE_URL"] == "http://app.convex.test:5173" and env["AUTH_GITHUB_SECRET"] == GITHUB_SECRET
    path = key_file(base_vars)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    pem = path.read_text()
    assert env["JWT_PRIVATE_KEY"] == pem.rstrip().replace("\n", " ")
    jwk = json.loads(env["JWKS"])["keys"][0]
    assert jwk["use"] == "sig" and jwk["kty"] == "RSA" and jwk["e"] == "AQAB"
    # The callback URLs to register, for the OAuth providers only.
    assert standin.site_url + "/api/auth/callback/github" in first.stdout
    assert standin.site_url + "/api/auth/callback/google" in first.stdout
    assert "/api/auth/callback/resend" not in first.stdout
    # -vvv prints no secret: not the key (either form, nor any line of it), the OAuth secrets or the admin key.
    leaks = [GITHUB_SECRET, GOOGLE_SECRET, RESEND_KEY, EXTRA_ENV_SECRET, base_vars["convex_auth_admin_key"],
             env["JWT_PRIVATE_KEY"]] + pem.splitlines()[1:-1]
    for secret in leaks:
        assert secret not in first.output, "secret value in the -vvv output"

    updates = len(standin.state.env_updates)
    second = run_playbook(PLAY, base_vars, check=False)
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 0, second.output
    assert len(standin.state.env_updates) == updates and path.read_text() == pem


def test_rotation_is_explicit(run_playbook, standin, base_vars):
    assert run_playbook(PLAY, base_vars, check=False).rc == 0
    before = dict(standin.state.env)
    rotated = run_playbook(PLAY, dict(base_vars, convex_auth_rotate_key=True), check=False)
    assert rotated.rc == 0, rotated.output
    assert "every signed-in user is signed out" in flat(rotated.stdout)
    after = standin.state.env
    assert after["JWT_PRIVATE_KEY"] != before["JWT_PRIVATE_KEY"] and after["JWKS"] != before["JWKS"]
    assert after["AUTH_GITHUB_SECRET"] == before["AUTH_GITHUB_SECRET"]
    assert sorted(standin.state.env_updates[-1]) == ["JWKS", "JWT_PRIVATE_KEY"]
    again = run_playbook(PLAY, base_vars, check=False)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.output
    assert standin.state.env["JWKS"] == after["JWKS"]


def test_check_mode_predicts_without_writing(run_playbook, standin, base_vars):
    run = run_playbook(PLAY, base_vars, check=True)
    assert run.rc == 0, run.output
    assert run.recap()["changed"] >= 2
    assert standin.state.env == {} and not key_file(base_vars).exists()


# The role hands the env file to convex_env (admin_key_env_file), which reads it with the one reader,
# module_utils/_convex_env_file.py (dotenv 16.4.7 parse, as the Convex CLI): an `export ` prefix, a
# quoted value and a trailing comment are the CLI's syntax too. The key never becomes a fact, so a
# -vvv run shows it nowhere. Variables come from inventory files, the way a user sets them.
def test_admin_key_env_file_in_dotenv_syntax_from_inventory_never_printed(run_playbook, standin, base_vars, tmp_path):
    key = standin.admin_key()
    env_file = tmp_path / "convex-admin.env"
    env_file.write_text("# Managed by hand\nCONVEX_SELF_HOSTED_URL=%s\n"
                        "export CONVEX_SELF_HOSTED_ADMIN_KEY=\"%s\" # written by the convex CLI setup\n"
                        % (standin.url, key))
    env_file.chmod(0o600)
    variables = dict(base_vars, convex_auth_admin_key="", convex_auth_admin_key_env_file=str(env_file))
    write_inventory_files(tmp_path, variables)
    run = run_playbook(PLAY, {}, check=False, verbosity=3)
    assert run.rc == 0, run.output
    assert "JWKS" in standin.state.env and standin.state.env["AUTH_GITHUB_SECRET"] == GITHUB_SECRET
    assert key not in run.output and key.split("|", 1)[1] not in run.output, "admin key in the -vvv output"
    again = run_playbook(PLAY, {}, check=False)
    assert again.rc == 0 and again.recap()["changed"] == 0, again.output


# The one-run cases (each converges once, or fails once, on its own stand-in) are hosts of one real run:
# the contract in group_vars/all.yml, each case's settings and state dir in its host_vars, as users set
# them. Each host runs the role on its own; the tests read their host's recap, output and stand-in.
def vaulted_key_value():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem.rstrip().replace("\n", " ")


@pytest.fixture(scope="module")
def once(tmp_path_factory):
    base = tmp_path_factory.mktemp("auth-once")
    vaulted = vaulted_key_value()
    providers = [{"name": "google", "env": {"AUTH_GOOGLE_ID": "google-id.apps", "AUTH_GOOGLE_SECRET": GOOGLE_SECRET}},
                 {"name": "resend", "oauth": False, "env": {"AUTH_RESEND_KEY": RESEND_KEY}},
                 {"name": "custom", "oauth": False, "env": {"CUSTOM_AUTH_SITE_URL": "https://id.convex.test:8443"}}]
    cases = {
        "cli-env-file": lambda server, state: {"convex_auth_admin_key": "", "convex_auth_admin_key_env_file": str(
            write_cli_env_file(state.parent / "convex-admin.env", server))},
        "vaulted-key": lambda server, state: {"convex_auth_private_key": vaulted},
        "strict-discovery": lambda server, state: {"convex_auth_hairpin_require_discovery": True},
        "strict-discovery-no-routes": lambda server, state: {"convex_auth_hairpin_require_discovery": True},
        "hairpin-closed-port": lambda server, state: {"convex_auth_convex_site_url": closed_port_url(),
                                                      "convex_auth_hairpin_timeout": 3},
        "disabled": lambda server, state: {"convex_auth_enabled": False, "convex_auth_github_id": ""},
        "custom-auth-site-url": lambda server, state: {
            "convex_auth_extra_env": {"CUSTOM_AUTH_SITE_URL": "https://auth.convex.test"}},
        "custom-auth-site-url-in-provider": lambda server, state: {"convex_auth_providers": providers},
        "custom-auth-site-url-outside": lambda server, state: {},
    }
    standins, sites, hosts, states = {}, [], {}, {}
    try:
        for host, settings in cases.items():
            server = standins[host] = convex_standin.ConvexStandin("joelclaw", secrets.token_hex(32), site_port=0)
            server.start()
            variables = host_variables(server, base / host / "state")
            if host == "strict-discovery":
                site = convex_auth_site.AuthSite(server.url, server.admin_key()).start()
                sites.append(site)
                variables["convex_auth_convex_site_url"] = site.url
            if host == "custom-auth-site-url-outside":
                server.state.env["CUSTOM_AUTH_SITE_URL"] = "https://elsewhere.convex.test"
            (base / host).mkdir()
            variables.update(settings(server, base / host / "state"))
            hosts[host] = {name: value for name, value in variables.items()
                           if name not in GROUP_VARS or GROUP_VARS[name] != value}
            states[host] = variables
        run = ansible_playbook_hosts(base / "run", PLAY.replace("hosts: localhost", "hosts: all"), hosts,
                                     group_vars=GROUP_VARS)
    finally:
        for site in sites:
            site.stop()
        for server in standins.values():
            server.stop()
    return run, standins, states, vaulted


def write_cli_env_file(path, server):
    path.write_text("# Managed by Ansible\nCONVEX_SELF_HOSTED_URL=%s\nCONVEX_SELF_HOSTED_ADMIN_KEY=%s\n"
                    % (server.url, server.admin_key()))
    return path


def passed(run, host):
    recap = run.recap(host)
    assert recap["failed"] == 0 and recap["unreachable"] == 0, run.output
    return flat(output_of(run, host))


def test_admin_key_from_the_cli_env_file(once):
    run, standins, _states, _vaulted = once
    passed(run, "cli-env-file")
    assert "JWKS" in standins["cli-env-file"].state.env


def test_vaulted_key_in_jwt_form_is_used_as_is(once):
    run, standins, states, vaulted = once
    passed(run, "vaulted-key")
    assert standins["vaulted-key"].state.env["JWT_PRIVATE_KEY"] == vaulted and not key_file(states["vaulted-key"]).exists()


def test_strict_discovery_against_deployed_auth_routes(once):
    run = once[0]
    # The hairpin message names the inventory host it ran from.
    assert "answers this host (strict-discovery) with HTTP 200" in passed(run, "strict-discovery")


def test_strict_discovery_fails_without_auth_routes(once):
    run = once[0]
    assert run.recap("strict-discovery-no-routes")["failed"] == 1, run.output
    failure = flat(failure_of(run, "strict-discovery-no-routes"))
    assert "HTTP 404" in failure and "auth.addHttpRoutes" in failure


def test_hairpin_failure_names_the_fixes(once):
    run = once[0]
    assert run.recap("hairpin-closed-port")["failed"] == 1, run.output
    failure = flat(failure_of(run, "hairpin-closed-port"))
    for word in ("Hairpin check failed", "AuthProviderDiscoveryFailed", "hostAliases", "DNS", "Caddy"):
        assert word in failure, run.output


def test_disabled_role_skips_with_a_message(once):
    run, standins, _states, _vaulted = once
    assert "convex_auth skipped" in passed(run, "disabled")
    assert run.recap("disabled")["changed"] == 0, run.output
    assert standins["disabled"].state.env_updates == []


def non_rsa_pem():
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def pkcs1_pem():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()


BAD_INPUT = {
    "github_id_missing": ({"convex_auth_github_id": ""}, ["convex_auth_github_id is empty", "vault"]),
    "github_secret_missing": ({"convex_auth_github_secret": ""}, ["convex_auth_github_secret is empty"]),
    "both_github_missing": ({"convex_auth_github_id": "", "convex_auth_github_secret": ""},
                            ["convex_auth_github_id and convex_auth_github_secret are empty"]),
    "site_url_not_http": ({"convex_auth_site_url": "ftp://app.convex.test"},
                          ["convex_auth_site_url (SITE_URL) is \"ftp://app.convex.test\"", "http:// or https://"]),
    "site_url_no_scheme": ({"convex_auth_site_url": "app.convex.test"}, ["convex_auth_site_url (SITE_URL)"]),
    "site_url_missing_with_oauth": ({"convex_auth_site_url": ""}, ["convex_auth_site_url (SITE_URL) is \"\""]),
    "key_not_rsa": ({"convex_auth_private_key": non_rsa_pem()}, ["private_key is a", "needs an RSA key"]),
    "key_pkcs1": ({"convex_auth_private_key": pkcs1_pem()}, ["PKCS#1", "openssl pkcs8 -topk8"]),
    "key_garbage": ({"convex_auth_private_key": "not-a-key"}, ["is not a PEM"]),
    "provider_without_env": ({"convex_auth_providers": [{"name": "google", "env": {}}]},
                             ["convex_auth_providers[0]", "google"]),
    "provider_redefines_managed": ({"convex_auth_providers": [{"name": "x", "env": {"JWKS": "x"}}]},
                                   ["convex_auth_providers[0]", "which the role sets itself"]),
    "extra_env_redefines_site_url": ({"convex_auth_extra_env": {"SITE_URL": "http://x"}},
                                     ["convex_auth_extra_env sets SITE_URL"]),
    "rotate_vaulted_key": ({"convex_auth_rotate_key": True,
                            "convex_auth_private_key": "-----BEGIN PRIVATE KEY----- x -----END PRIVATE KEY-----"},
                           ["convex_auth_rotate_key is true"]),
    "url_with_path": ({"convex_auth_url": "http://127.0.0.1:3210/api"}, ["convex_auth_url is"]),
}


# Every bad-input case of this file (BAD_INPUT, the admin key env file without the key, and the bad
# CUSTOM_AUTH_SITE_URL values below) is one inventory host of one real (not --check) run: the contract in
# group_vars/all.yml, the case's settings in its host_vars, as users set them, and each host with its own
# Convex stand-in and state dir. Each host runs the role on its own, so each case fails (or passes) on its
# own: the tests read their host's failure, recap, stand-in and key file.
BAD_CUSTOM_AUTH_SITE_URLS = ["https://auth.convex.test/", "auth.convex.test", ""]
ENV_FILE_WITHOUT_KEY = "admin key env file without the key"


def custom_site_url_case(value):
    return "custom auth site url " + (value or "empty")


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    base = tmp_path_factory.mktemp("auth-refused")
    cases = {case: overrides for case, (overrides, _messages) in BAD_INPUT.items()}
    for value in BAD_CUSTOM_AUTH_SITE_URLS:
        cases[custom_site_url_case(value)] = {"convex_auth_extra_env": {"CUSTOM_AUTH_SITE_URL": value}}
    cases[ENV_FILE_WITHOUT_KEY] = {"convex_auth_admin_key": ""}
    standins, hosts, states = {}, {}, {}
    try:
        for case, overrides in cases.items():
            host = host_name(case)
            server = standins[host] = convex_standin.ConvexStandin("joelclaw", secrets.token_hex(32), site_port=0)
            server.start()
            variables = dict(host_variables(server, base / host), **overrides)
            if case == ENV_FILE_WITHOUT_KEY:
                env_file = base / (host + ".env")
                env_file.write_text("CONVEX_SELF_HOSTED_URL=%s\n# CONVEX_SELF_HOSTED_ADMIN_KEY=commented-out\n"
                                    % server.url)
                variables["convex_auth_admin_key_env_file"] = str(env_file)
            hosts[host] = {name: value for name, value in variables.items()
                           if name not in GROUP_VARS or GROUP_VARS[name] != value}
            states[host] = variables
        assert len(hosts) == len(cases)
        run = ansible_playbook_hosts(base / "run", PLAY.replace("hosts: localhost", "hosts: all"), hosts,
                                     group_vars=GROUP_VARS)
        after = {host: (dict(server.state.env), list(server.state.env_updates)) for host, server in standins.items()}
    finally:
        for server in standins.values():
            server.stop()
    return run, after, states


def assert_refused_before_any_change(refused, case, messages):
    run, after, states = refused
    host = host_name(case)
    failure = flat(failure_of(run, host))
    for message in messages:
        assert message in failure, run.output
    recap = run.recap(host)
    assert recap["failed"] == 1 and recap["changed"] == 0, run.output
    assert after[host] == ({}, [])
    assert not key_file(states[host]).exists()
    for secret in (GITHUB_SECRET, GOOGLE_SECRET, RESEND_KEY):
        assert secret not in run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_before_any_change(refused, case):
    assert_refused_before_any_change(refused, case, BAD_INPUT[case][1])


def test_admin_key_env_file_without_the_key_fails_before_any_change(refused):
    assert_refused_before_any_change(refused, ENV_FILE_WITHOUT_KEY, ["has no CONVEX_SELF_HOSTED_ADMIN_KEY line"])


# ---------------------------------------------------------------- CUSTOM_AUTH_SITE_URL
# Convex Auth's callback URL is (CUSTOM_AUTH_SITE_URL ?? CONVEX_SITE_URL) + "/api/auth/callback/<provider>"
# (get-convex/convex-auth src/server/oauth/convexAuth.ts callbackUrl @ b58a384). These runs read the
# variables as a user sets them: group_vars/all beside the playbook and host_vars/localhost.yml.
def write_inventory_files(tmp_path, variables):
    group_dir = tmp_path / "group_vars" / "all"
    group_dir.mkdir(parents=True, exist_ok=True)
    (group_dir / "main.yml").write_text((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
    host_vars = {name: value for name, value in variables.items()
                 if name not in GROUP_VARS or GROUP_VARS[name] != value}
    (tmp_path / "host_vars").mkdir(exist_ok=True)
    (tmp_path / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(host_vars))


def test_callback_urls_follow_custom_auth_site_url(once):
    run, standins, _states, _vaulted = once
    text = passed(run, "custom-auth-site-url")
    assert standins["custom-auth-site-url"].state.env["CUSTOM_AUTH_SITE_URL"] == "https://auth.convex.test"
    assert "https://auth.convex.test/api/auth/callback/github" in text
    assert "https://auth.convex.test/api/auth/callback/google" in text
    assert standins["custom-auth-site-url"].site_url + "/api/auth/callback/" not in text
    assert "WARNING" not in text


def test_custom_auth_site_url_from_a_provider_env_is_used_too(once):
    run = once[0]
    assert "https://id.convex.test:8443/api/auth/callback/github" in passed(run, "custom-auth-site-url-in-provider")


def test_custom_auth_site_url_set_outside_the_role_is_flagged(once):
    run, standins, _states, _vaulted = once
    text = passed(run, "custom-auth-site-url-outside")
    assert "the deployment has CUSTOM_AUTH_SITE_URL, set outside this role" in text
    assert "not on " + standins["custom-auth-site-url-outside"].site_url in text


@pytest.mark.parametrize("value", BAD_CUSTOM_AUTH_SITE_URLS)
def test_bad_custom_auth_site_url_fails_before_any_change(refused, value):
    assert_refused_before_any_change(refused, custom_site_url_case(value), [
        "CUSTOM_AUTH_SITE_URL (in convex_auth_extra_env or a provider's env) is %s" % json.dumps(value),
        "without a trailing slash"])
