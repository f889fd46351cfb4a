# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure messages of convex_backend's secret-handling tasks reach the person; secrets do not.

The tasks that handle the instance secret, the admin key and the bridge variables run with
no_log, which censors their whole result, the careful failure message included: the task's
`fatal: ... => {"censored": ...}` record is all a log, a JSON callback or a CI job keeps. (The
default callback of ansible-core 2.19 also prints the message in an [ERROR] header; older cores
and other callbacks do not.) The role runs them quietly and re-raises only the module's message,
which the modules guarantee holds no secret. Each test checks that the message is in the failed
task's own record and that no secret value appears anywhere in the output.

The cluster is the real kube-apiserver of k8s_harness.py and the backend the stand-in of
test_convex_backend_apply.py; variables come
from inventory files (group_vars/all.yml = the contract, host_vars = the user's settings).
"""
from __future__ import annotations

import copy
import re
import shutil
import textwrap

import yaml

from k8s_harness import KubeError, control_plane, free_port, kube  # noqa: F401  pylint: disable=unused-import
from playbook_runner import ansible_playbook
from test_convex_backend import GROUP_VARS, OTHER_SHA, PLAY, ROOT, SECRET
from test_convex_backend_apply import convex  # noqa: F401  pylint: disable=unused-import
from test_k8s_apply import NAMESPACE, client_writes

OTHER_SECRET = "d1" * 32  # 64 hex characters; a test fixture, not a real secret
# An admin key as convex_admin_key issues it: <instance name>|<hex>.
ADMIN_KEY = re.compile(r"joelclaw\|[0-9a-f]{40,}")
UPGRADE = ROOT / "playbooks" / "upgrade.yml"
FATAL = re.compile(r"^fatal: \[[^]]+\]: FAILED! => ?(.*)$")


def host_vars(tmp_path, kubeconfig, url, dashboard_port=None, **overrides):
    """What a user puts in host_vars for this Mac, pointed at the stand-ins."""
    ports = copy.deepcopy(GROUP_VARS["convex_published_ports"])
    if dashboard_port:
        ports["dashboard"]["host_port"] = dashboard_port
    result = {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": True,
              "convex_kubeconfig": str(kubeconfig), "convex_backend_admin_url": url,
              "convex_published_ports": ports, "convex_backend_image_check": "skip"}
    result.update(overrides)
    return result


def converge(tmp_path, variables):
    return ansible_playbook(tmp_path / "run", PLAY, group_vars=GROUP_VARS, host_vars=variables)


def failures(run):
    """The failed tasks' records as the callback printed them (ansible.cfg: result_format yaml, so the
    record follows the fatal line as an indented YAML block, or on the line itself as JSON)."""
    records, lines = [], run.stdout.splitlines()
    for number, line in enumerate(lines):
        match = FATAL.match(line)
        if not match:
            continue
        block = [match.group(1)] if match.group(1).strip() else []
        for following in lines[number + 1:]:
            if not following.startswith(" "):
                break
            block.append(following)
        records.append(yaml.safe_load(textwrap.dedent("\n".join(block))) or {})
    return records


def assert_reaches_the_person(run, expected, secrets):
    assert run.rc != 0, run.stdout[-3000:]
    records = failures(run)
    assert records, run.output[-3000:]
    last = records[-1]
    assert "censored" not in last, "the failure was censored: %s" % run.stdout[-3000:]
    assert expected in last.get("msg", ""), last
    for secret in secrets:
        assert secret not in run.output
    assert not ADMIN_KEY.search(run.output), ADMIN_KEY.search(run.output).group(0)


def cluster_secret(kube, value):  # noqa: F811
    """Put value in the cluster's convex-secrets Secret through the API, creating the namespace first."""
    try:
        kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NAMESPACE}})
    except KubeError as exc:
        if exc.status != 409:  # AlreadyExists: an earlier converge made it
            raise
    path = "/api/v1/namespaces/%s/secrets" % NAMESPACE
    if kube.get(path + "/convex-secrets") is None:
        kube.request("POST", path, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "convex-secrets"},
                                    "stringData": {"instance-secret": value}})
    else:
        kube.request("PATCH", path + "/convex-secrets", {"stringData": {"instance-secret": value}},
                     "application/merge-patch+json")


def test_a_rotated_instance_secret_is_named_and_no_secret_is_shown(tmp_path, kube, convex):  # noqa: F811
    """The cluster's Secret no longer matches the running backend's INSTANCE_SECRET: the admin key
    derived from it is refused with 401 BadAdminKey."""
    cluster_secret(kube, OTHER_SECRET)  # the backend stand-in runs with SECRET
    url, dashboard_port = convex
    run = converge(tmp_path, host_vars(tmp_path, kube.kubeconfig, url, dashboard_port))
    assert_reaches_the_person(run, "was INSTANCE_SECRET rotated?", [SECRET, OTHER_SECRET])


def test_a_backend_that_refuses_connections_is_named_and_no_secret_is_shown(tmp_path, kube):  # noqa: F811
    url = "http://127.0.0.1:%d" % free_port()  # nothing listens there
    run = converge(tmp_path, host_vars(tmp_path, kube.kubeconfig, url, convex_backend_instance_secret=SECRET))
    assert_reaches_the_person(run, "connection refused", [SECRET])


def test_a_vaulted_secret_that_differs_from_the_cluster_is_named_and_neither_is_shown(tmp_path, kube):  # noqa: F811
    cluster_secret(kube, OTHER_SECRET)
    kube.reset_audit()
    url = "http://127.0.0.1:%d" % free_port()
    run = converge(tmp_path, host_vars(tmp_path, kube.kubeconfig, url, convex_backend_instance_secret=SECRET))
    assert_reaches_the_person(run, "differs from the one in existing", [SECRET, OTHER_SECRET])
    assert client_writes(kube) == [], "something was written"


def test_a_refused_bridge_variable_is_named_and_its_value_is_not_shown(tmp_path, kube, convex):  # noqa: F811
    """convex_env refuses a value over the backend's 8 KiB limit before sending it; the message
    names the variable and the size, never the value (here a Redis URL with its password)."""
    url, dashboard_port = convex
    password = "redis-password-not-real-" + "x" * 9000
    run = converge(tmp_path, host_vars(tmp_path, kube.kubeconfig, url, dashboard_port,
                                       convex_backend_instance_secret=SECRET,
                                       convex_backend_redis_url="redis://:%s@redis-svc.joelclaw.svc.cluster.local:6379"
                                       % password))
    assert_reaches_the_person(run, "REDIS_URL has a value of", [SECRET, password[:40]])


def test_a_refused_admin_key_stops_the_upgrade_before_the_export_with_its_message(tmp_path, kube, convex):  # noqa: F811
    """playbooks/upgrade.yml exports the running backend first; when the cluster's Secret no longer
    matches the backend's INSTANCE_SECRET, the export's admin key check says so, and nothing is upgraded."""
    url, dashboard_port = convex
    variables = host_vars(tmp_path, kube.kubeconfig, url, dashboard_port, convex_backend_instance_secret=SECRET)
    first = converge(tmp_path, variables)
    assert first.rc == 0, first.output[-3000:]
    cluster_secret(kube, OTHER_SECRET)  # changed behind the running backend's back
    del variables["convex_backend_instance_secret"]
    # The test's new sha is no upstream release: declared the way a user declares a newer release
    # (as the project fixture of test_convex_backend_apply.py does).
    variables["convex_upgrade_releases"] = {OTHER_SHA: {"database_version": 129, "migrates_from": 116}}
    # upgrade.yml reads vars/convex_releases.yml next to itself (vars_files).
    shutil.copytree(ROOT / "playbooks" / "vars", tmp_path / "upgrade" / "vars")
    kube.reset_audit()
    # The two variables upgrade.yml documents as -e.
    upgrade = ansible_playbook(tmp_path / "upgrade", UPGRADE.read_text(),
                               per_run={"convex_upgrade_sha": OTHER_SHA, "convex_upgrade_hosts": "localhost"},
                               group_vars=GROUP_VARS, host_vars=variables)
    assert_reaches_the_person(upgrade, "was INSTANCE_SECRET rotated?", [SECRET, OTHER_SECRET])
    assert "Nothing was upgraded" in failures(upgrade)[-1]["msg"]
    assert client_writes(kube) == [], "something was written"
