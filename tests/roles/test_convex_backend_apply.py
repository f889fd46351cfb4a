# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backend's apply path and playbooks/upgrade.yml against a REAL kube-apiserver.

* The cluster is tests/roles/k8s_harness.py: etcd + kube-apiserver v1.35 (Talos's flags, Pod
  Security), no kubelet: the harness plays the StatefulSet/Deployment controllers through the
  status subresources, and ``kube.hold()`` leaves a rollout stuck.
* Pod logs have no kubelet here. The upgrade's migration gate reads the backend's log with
  kubernetes.core.k8s_log through the real API server (pods/log, RBAC, the pod's node); the one
  seam is the node's kubelet endpoint, which only serves the log text the test sets with
  ``kube.set_log()`` (KubeletLogs in the harness; tests/k8s/README.md).
* tests/standins/convex/convex_standin.py is the Convex TEST STAND-IN (upstream HTTP contract): the
  admin key is verified live, the bridge variables are really set, exports and imports are served.

Variables come the way users set them: the repository's group_vars/all, the test's values in the
inventory's host_vars; only what the playbooks document as -e (convex_upgrade_sha, the restore
choice and confirmation) is passed as extra vars.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from k8s_harness import control_plane, free_port, kube  # noqa: F401  pylint: disable=unused-import
from playbook_runner import assert_no_leak, convex_standin_process
from test_k8s_apply import NAMESPACE, PLAY, SECRET, Project, client_writes, objects
from test_playbook_paths import namespace_prefix, needs_namespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "fakebin"))
import docker_images  # noqa: E402  pylint: disable=wrong-import-position

GROUP_VARS = yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())
SHA = GROUP_VARS["convex_image_sha"]
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
UPGRADE = str(ROOT / "playbooks" / "upgrade.yml")
RESTORE = str(ROOT / "playbooks" / "restore.yml")
# The converge of the applied flow as on the Mac: the group macmini, facts gathered (convex_state_dir is
# <home>/.joelclaw from the user_dir fact, group_vars/all/main.yml).
FACTS_PLAY = PLAY.replace("hosts: localhost", "hosts: macmini").replace("gather_facts: false", "gather_facts: true")
# The applied flow's runs are also the leak check of the playbooks (issue 16): at -vvv every module's
# arguments and result are printed, and the output is grepped for each secret the runs handle.
VERBOSITY = "-vvv"
# What the backend prints when its migrations are done (crates/model/src/migrations.rs and
# crates/migrations_model/src/lib.rs at get-convex/convex-backend 94a42c3d: "Migrated {}",
# "Migration complete"; the "Executing Migration …/…" line with the log line to wait for).
MIGRATED_LOG = ("WARN Executing Migration 128/128. Wait for log line 'Migrated 128'\n"
                "INFO Migrated 128\nINFO Migration complete\n")


@pytest.fixture
def convex(tmp_path):
    """The Convex TEST STAND-IN on free ports (API and dashboard), with the roles' instance secret."""
    with convex_standin_process(SECRET) as (url, dashboard_port):
        yield url, dashboard_port


class MacProject(Project):
    """The sample inventory's shape: the host in group macmini, which the playbooks target."""

    def __init__(self, base, host_vars):
        super().__init__(base, host_vars)
        # The playbooks in the repository find the contract next to the inventory, as in the sample one.
        shutil.copytree(base / "group_vars", base / "inventory" / "group_vars")
        (base / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"macmini": {"hosts": {
            "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))

    def playbook(self, path, *args, **extra):
        if extra:
            (self.base / "extra.json").write_text(json.dumps(extra))
            args = (*args, "-e", "@extra.json")
        return self.run_playbook(path, *args)


def mac_project(base, kube, convex, home=None):  # pylint: disable=redefined-outer-name
    """The tests' MacProject in base: apply mode against the harness, the stand-in convex = (url, dashboard port).
    With home, the playbooks run with that as the user's home in /etc/passwd (a mount namespace,
    test_playbook_paths.py) and no path in host_vars: the state directory, the kubeconfig in it (where
    colima_talos writes it) and everything under it come from the user_dir fact, as on the Mac."""
    url, dashboard_port = convex
    ports = copy.deepcopy(GROUP_VARS["convex_published_ports"])
    ports["dashboard"]["host_port"] = dashboard_port
    # The stand-in's port as the backend's published host port: backup.yml and restore.yml reach the
    # backend there (convex_backup_url), as on the Mac.
    ports["api"]["host_port"] = int(url.rsplit(":", 1)[1])
    paths = {"convex_state_dir": str(base / "state"), "convex_kubeconfig": str(kube.kubeconfig)} if home is None else {}
    project = MacProject(base / "project", dict(paths, **{
        "convex_k8s_apply": True,
        "convex_admin_url": url,
        "convex_published_ports": ports,
        "convex_backend_instance_secret": SECRET,
        "convex_backend_inngest_url": "http://inngest-svc.joelclaw.svc.cluster.local:8288",
        # No registry here: the image check runs with the fake docker in test_image_tag_never_built_*.
        "convex_backend_image_check": "skip",
        # The test's new sha is no upstream release: its migration range is declared the way a user
        # declares a release newer than playbooks/vars/convex_releases.yml.
        "convex_upgrade_releases": {OTHER_SHA: {"database_version": 129, "migrates_from": 116}},
    }))
    if home is not None:
        (project.base / "play.yml").write_text(FACTS_PLAY)
        project.prefix = namespace_prefix(home, base)
    return project


@pytest.fixture
def project(tmp_path, kube, convex):
    return mac_project(tmp_path, kube, convex)


def events(kube, verb=None, resource=None, subresource=None, dry_run=False, audit=None):
    """The audit events (audit, else kube's since its last reset_audit()) of that verb, resource and subresource."""
    found = []
    for event in kube.audit_events() if audit is None else audit:
        ref = event.get("objectRef", {})
        if verb and event["verb"] != verb or resource and ref.get("resource") != resource:
            continue
        if ref.get("subresource") != subresource or ("dryRun=All" in event["requestURI"]) != dry_run:
            continue
        found.append(event)
    return found


def flat(run):
    """The run's output with whitespace runs as one space: the YAML result format wraps long messages."""
    return " ".join(run.output.split())


def image(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def admin_key(state: Path):
    return [line.split("=", 1)[1].strip("'\"") for line in (state / "convex-admin.env").read_text().splitlines()
            if line.startswith("CONVEX_SELF_HOSTED_ADMIN_KEY=")][0]


def convex_call(url, key, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={
        "Authorization": "Convex " + key, "Content-Type": "application/json"}, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


# ---------------------------------------------------------------- the apply path, then the upgrade
@pytest.fixture(scope="module")
def applied(control_plane, tmp_path_factory):  # noqa: F811  pylint: disable=redefined-outer-name
    """The first converge from an empty cluster (-vvv, for the leak check), then a converge without the
    vaulted secret and its state file; the cluster is left converged for the upgrade test, which goes on
    from there (one first converge for both). Module scope: one xdist group (conftest.py).

    No path is set: the playbooks run with a private home (test_playbook_paths.py), so every run of the
    flow (converge, upgrade, restore, backup, health) must find the state directory of the converge
    from the user_dir fact. A play that ran without facts used to fall back silently to
    /var/lib/joelclaw/.joelclaw, and upgrade.yml then looked for the kubeconfig, the admin env file and
    the instance secret there."""
    kube = control_plane
    kube.reset()
    base = tmp_path_factory.mktemp("backend-apply")
    home = base / "home"
    state = home / ".joelclaw"
    state.mkdir(parents=True, mode=0o700)
    # colima_talos writes the kubeconfig here; the harness's goes in its place.
    shutil.copy(kube.kubeconfig, state / "kubeconfig")
    try:
        with convex_standin_process(SECRET) as convex:  # pylint: disable=redefined-outer-name
            project = mac_project(base, kube, convex, home=home)
            flow = {"project": project, "convex": convex, "state": state}
            kube.reset_audit()
            flow["first"] = project.run(VERBOSITY)
            flow["first_audit"] = kube.audit_events()
            flow["first_objects"] = objects(kube)
            if flow["first"].rc == 0:
                flow["listed"] = convex_call(convex[0], admin_key(flow["state"]),
                                             "/api/list_environment_variables")["environmentVariables"]
                # Without the vaulted value and without the state file, the secret is read back from the cluster.
                del project.host_vars["convex_backend_instance_secret"]
                project.write_host_vars()
                (flow["state"] / "convex-instance-secret").unlink()
                flow["second"] = project.run()
                secret_file = flow["state"] / "convex-instance-secret"
                flow["secret_file"] = (secret_file.read_text(), oct(secret_file.stat().st_mode & 0o777)) \
                    if secret_file.exists() else None
                project.host_vars["convex_backend_instance_secret"] = SECRET
                project.write_host_vars()
            flow["resets"] = kube.resets
            yield flow
    finally:
        kube.reset()


@needs_namespace
def test_apply_uses_server_side_apply_reads_the_secret_back_and_verifies_the_admin_key(applied):
    first = applied["first"]
    assert first.rc == 0, first.output
    assert SECRET not in first.output
    # Where the user_dir fact puts the state, never the old fallback.
    assert (applied["state"] / "convex-admin.env").is_file()
    assert not Path("/var/lib/joelclaw/.joelclaw").exists()
    # Every write was a server-side apply by our field manager (the server records the manager and
    # the Apply operation in managedFields); none carries a last-applied annotation.
    audit = applied["first_audit"]
    writes = events(None, "patch", audit=audit) + events(None, "create", audit=audit) + events(None, "update", audit=audit)
    assert writes and all("fieldManager=joelclaw-macmini" in e["requestURI"] for e in writes), \
        [e["requestURI"] for e in writes]
    for key, obj in applied["first_objects"].items():
        assert {m["operation"] for m in obj["metadata"]["managedFields"] if m["manager"] == "joelclaw-macmini"} \
            == {"Apply"}, key
        assert "kubectl.kubernetes.io/last-applied-configuration" not in obj["metadata"].get("annotations", {}), key
    # The Secret was read back before the first write; the dashboard's pre-fill Secret was looked for.
    first_write = next(i for i, e in enumerate(audit) if e["verb"] in ("patch", "create"))
    assert any(e["verb"] == "get" and e.get("objectRef", {}).get("name") == "convex-secrets"
               for e in audit[:first_write])
    assert any(e.get("objectRef", {}).get("name") == "convex-dashboard-admin-key" for e in audit)
    # Admin key verified live and written for the CLI; the bridge variable is a deployment variable.
    assert applied["listed"]["INNGEST_URL"] == "http://inngest-svc.joelclaw.svc.cluster.local:8288"

    # Without the vaulted value and without the state file, the secret is read back from the cluster.
    second = applied["second"]
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 1, second.stdout  # only the state file, restored from the cluster
    assert applied["secret_file"] is not None, "the state file was not restored"
    text, mode = applied["secret_file"]
    assert text.strip() == SECRET
    assert mode == "0o600"


# ---------------------------------------------------------------- playbooks/upgrade.yml
def upgrade(project, sha=OTHER_SHA, *args, **extra):
    return project.playbook(UPGRADE, *args, convex_upgrade_sha=sha, **extra)


def backup_sets(state: Path):
    """{zip name: manifest} of the complete backup sets in the backup directory."""
    backups = state / "backups"
    return {p.name: json.loads(p.with_suffix(".manifest.json").read_text())
            for p in sorted(backups.glob("*.zip")) if p.with_suffix(".manifest.json").exists()} \
        if backups.is_dir() else {}


def audit_time(event):
    stamp = event["requestReceivedTimestamp"]  # RFC 3339 with microseconds, UTC
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0" + stamp[19:-1])


@needs_namespace
def test_upgrade_backs_up_first_rolls_both_waits_gates_refuses_a_downgrade_and_rolls_back(
        applied, control_plane, tmp_path):  # noqa: F811  pylint: disable=redefined-outer-name
    """Goes on from the cluster the applied fixture converged (its first run and the read-back run), then
    backup.yml and health.yml. No path is set (the applied fixture): each playbook found the state
    directory of the converge, and the kubeconfig in it, from the user_dir fact."""
    kube, project, convex, state = control_plane, applied["project"], applied["convex"], applied["state"]
    assert kube.resets == applied["resets"], \
        "the cluster was reset after the applied fixture converged it: run this module's grouped tests together"
    for run in (applied["first"], applied["second"]):
        assert run.rc == 0, run.output
    kube.settle()
    url = convex[0]
    key = admin_key(state)
    convex_call(url, key, "/api/update_environment_variables",
                {"changes": [{"name": "APP_SETTING", "value": "before-upgrade"}]})
    kube.set_log(NAMESPACE, "convex-0", "backend", MIGRATED_LOG)
    kube.reset_audit()

    run = upgrade(project, OTHER_SHA, VERBOSITY)
    assert run.rc == 0, run.output
    assert SECRET not in run.output

    # The export first, as a full backup set (ZIP, environment variables, manifest) of the old image.
    sets = backup_sets(state)
    assert len(sets) == 1, sorted(p.name for p in (state / "backups").iterdir())
    (name, manifest), = sets.items()
    assert manifest["backend_image"].endswith(":" + SHA)
    assert (state / "backups" / name).with_suffix(".env.json").is_file()
    records = sorted((state / "backups").glob("upgrade-*-to-*.yml"))
    assert len(records) == 1
    record = yaml.safe_load(records[0].read_text())
    assert record["previous_sha"] == SHA and record["new_sha"] == OTHER_SHA
    assert Path(record["export"]).name == name
    sts_writes = events(kube, "patch", "statefulsets")
    assert len(sts_writes) == 1  # the new image, once
    assert (state / "backups" / name).stat().st_mtime <= audit_time(sts_writes[0])

    # Both images bumped together; the harness's StatefulSet controller replaced the pod (real
    # revisions), the waiter saw the rollout finish, and the migration gate read the pod's log.
    live = objects(kube)
    assert image(live[("StatefulSet", "convex")]).endswith(":" + OTHER_SHA)
    assert image(live[("Deployment", "convex-dashboard")]).endswith(":" + OTHER_SHA)
    sts = live[("StatefulSet", "convex")]
    assert sts["status"]["updateRevision"] == sts["status"]["currentRevision"]
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"] == 2
    pod = kube.get("/api/v1/namespaces/%s/pods/convex-0" % NAMESPACE)
    assert pod["spec"]["containers"][0]["image"].endswith(":" + OTHER_SHA)
    assert events(kube, "get", "pods", "log"), "the migration gate never read the pod log"
    assert "Gate on the health" in run.stdout and run.recap()["failed"] == 0

    # Downgrade refusal: a converge with the old sha still pinned, and upgrade.yml back to it,
    # both stop before any write (migrations are forward-only).
    kube.reset_audit()
    again = project.run()
    assert again.rc != 0 and "That is a downgrade" in flat(again), again.output[-2000:]
    back = upgrade(project, SHA)
    assert back.rc != 0 and "downgrade" in flat(back), back.output[-2000:]
    assert client_writes(kube) == []
    assert len(backup_sets(state)) == 1
    record = yaml.safe_load((state / "convex-version.yml").read_text())
    assert [entry["sha"] for entry in record["history"]] == [SHA, OTHER_SHA]

    # The data changes after the upgrade; the rollback must bring back the pre-upgrade state.
    convex_call(url, key, "/api/update_environment_variables",
                {"changes": [{"name": "APP_SETTING", "value": "after-upgrade"}]})

    # Rollback as roles/convex_backend/README.md "Upgrade and rollback" says, with no npx:
    # 1-2. the previous sha, the backend stopped, the version check told it is a rollback.
    project.host_vars.update(convex_image_sha=record_previous(state), convex_backend_replicas=0,
                             convex_backend_version_change="rollback")
    project.write_host_vars()
    stop = project.run("--tags", "convex_backend")
    assert stop.rc == 0, stop.output
    kube.settle()
    assert kube.get("/api/v1/namespaces/%s/pods/convex-0" % NAMESPACE) is None
    # 3. the volume goes (SQLite): the claim is deleted (no controller here removes its finalizer).
    pvc = "/api/v1/namespaces/%s/persistentvolumeclaims/data-convex-0" % NAMESPACE
    kube.request("PATCH", pvc, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    kube.request("DELETE", pvc)
    # 4. replicas back, the full phase-0 converge of the Convex roles.
    project.host_vars.update(convex_backend_replicas=1)
    project.write_host_vars()
    start = project.run()
    assert start.rc == 0, start.output
    live = objects(kube)
    assert image(live[("StatefulSet", "convex")]).endswith(":" + SHA)
    assert image(live[("Deployment", "convex-dashboard")]).endswith(":" + SHA)
    # 5. the pre-upgrade set restored with playbooks/restore.yml: data and variables.
    restore = project.playbook(RESTORE, VERBOSITY, convex_restore_backup=name, convex_restore_confirm="joelclaw")
    assert restore.rc == 0, restore.output
    listed = convex_call(url, key, "/api/list_environment_variables")["environmentVariables"]
    assert listed["APP_SETTING"] == "before-upgrade"

    # backup.yml: retention treats the pre-upgrade set like any other (keep_daily keeps the newest set of the day).
    backup = project.playbook(str(ROOT / "playbooks" / "backup.yml"), VERBOSITY)
    assert backup.rc == 0, backup.output
    sets = sorted((state / "backups").glob("*.zip"))
    assert len(sets) == 1 and sets[0].name != name, sorted(p.name for p in (state / "backups").iterdir())
    # health.yml: the newest backup found in the state dir, the kubeconfig there reached the cluster.
    kube.settle()
    health = project.playbook(str(ROOT / "playbooks" / "health.yml"), VERBOSITY, convex_health_fail_on="never",
                              convex_health_report_path=str(tmp_path / "health.json"))
    assert health.rc == 0, health.output
    probes = {p["name"]: p for p in yaml.safe_load((tmp_path / "health.json").read_text())["probes"]}
    assert probes["backup_age"]["status"] == "ok", probes["backup_age"]
    assert probes["statefulset"]["status"] == "ok", probes["statefulset"]

    # None of the runs at -vvv shows the instance secret or the admin key derived from it.
    for each in (applied["first"], run, restore, backup, health):
        assert_no_leak(each, {"instance secret": SECRET, "admin key": key,
                              "admin key, signed part": key.split("|", 1)[-1]}, verbosity=3)


def test_the_documented_rollback_needs_no_npx():
    """The steps the test above follows are the README's; none of them needs Node.js on the Mac."""
    readme = (ROOT / "roles" / "convex_backend" / "README.md").read_text()
    section = readme[readme.index("**Rollback.**"):readme.index("## ", readme.index("**Rollback.**"))]
    assert "npx" not in section, section
    assert "playbooks/restore.yml" in section and "convex_backend_version_change=rollback" in section
    assert "delete pvc data-convex-0" in section


def record_previous(state: Path):
    record = yaml.safe_load(next((state / "backups").glob("upgrade-*-to-*.yml")).read_text())
    return record["previous_sha"]


def test_a_stuck_rollout_stops_the_upgrade_at_the_timeout_and_a_timed_out_migration_gate_shows_only_the_status(
        project, kube):  # noqa: F811  pylint: disable=redefined-outer-name
    """Two failed upgrades on one converge: a rollout that never finishes, then (the rollout released) the
    same upgrade run again, whose migrations never finish. The backend's log can hold anything its code
    prints (run_backend.sh passes INSTANCE_SECRET on the command line): the gate must report only the
    filtered migration status."""
    first = project.run()
    assert first.rc == 0, first.output
    kube.settle()
    kube.hold("StatefulSet", NAMESPACE, "convex")
    project.host_vars["convex_backend_rollout_timeout"] = 8
    project.write_host_vars()
    run = upgrade(project)
    assert run.rc != 0
    assert "Ensure the backend StatefulSet is applied and its rollout has finished" in run.stdout
    assert "Timed out waiting on resource" in flat(run), run.output[-3000:]
    live = objects(kube)
    assert image(live[("StatefulSet", "convex")]).endswith(":" + OTHER_SHA)
    sts = live[("StatefulSet", "convex")]
    # (readyReplicas 0 is omitted by the server: omitempty)
    assert sts["status"].get("readyReplicas", 0) == 0
    assert sts["status"]["updateRevision"] != sts["status"]["currentRevision"]
    # Stopped there: the dashboard still runs the old sha, no migration gate or health gate ran.
    assert image(live[("Deployment", "convex-dashboard")]).endswith(":" + SHA)
    assert "Wait until the backend logs" not in run.stdout

    # The rollout finishes; upgrade.yml run again reaches the migration gate, which times out.
    kube.release("StatefulSet", NAMESPACE, "convex")
    kube.settle()
    leak = "INFO startup argv: --instance-secret " + SECRET
    kube.set_log(NAMESPACE, "convex-0", "backend",
                 "WARN Executing Migration 128/128. Wait for log line 'Migrated 128'\n" + leak + "\n")
    gated = upgrade(project, OTHER_SHA, "-vvv", convex_upgrade_migration_timeout=10)
    assert gated.rc != 0, gated.output[-3000:]
    assert "Wait until the backend logs" in gated.stdout, gated.output[-3000:]
    assert SECRET not in gated.output
    assert "startup argv" not in gated.output
    assert "Migrated 128" in flat(gated) and "did not finish" in flat(gated), gated.output[-3000:]


# Releases read upstream (playbooks/vars/convex_releases.yml): the 2025-02-19 release's database is at
# version 115; the release tip of 2026-08-21 migrates only from 116, the 2025-05-23 release from 104 to 119.
OLD_RELEASE = "663640f5a01018914dc4314145f23a31f3afdca6"
STEP_RELEASE = "478d197d54ee6e873f06cf9e9deae1eb4aa35bb5"


def test_an_upgrade_upstream_cannot_migrate_in_one_step_is_refused_with_the_steps(project, kube, tmp_path):
    project.host_vars["convex_image_sha"] = OLD_RELEASE
    project.write_host_vars()
    first = project.run()
    assert first.rc == 0, first.output
    kube.reset_audit()
    run = upgrade(project, SHA)
    assert run.rc != 0
    assert "Upgrade in steps" in flat(run), run.output[-3000:]
    assert "%s (self-hosted-release-2025-05-23-478d197d), then %s" % (STEP_RELEASE, SHA) in flat(run)
    # Refused before the backup and before any write.
    assert client_writes(kube) == []
    assert backup_sets(tmp_path / "state") == {}
    # A sha the table does not know is refused too, naming where to read its range.
    unknown = upgrade(project, "fedcba9876543210fedcba9876543210fedcba98")
    assert unknown.rc != 0 and "convex_upgrade_releases" in flat(unknown) and "Transition too old" in flat(unknown)
    assert client_writes(kube) == []


# ---------------------------------------------------------------- guards before any write
def test_a_vaulted_secret_that_differs_from_the_cluster_is_refused_before_any_write(project, kube):
    other = "d1" * 32
    kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": NAMESPACE}})
    kube.request("POST", "/api/v1/namespaces/%s/secrets" % NAMESPACE, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "convex-secrets"},
        "stringData": {"instance-secret": other}})
    kube.reset_audit()
    run = project.run()
    assert run.rc != 0
    assert "differs from the one in existing" in flat(run)
    assert other not in run.output and SECRET not in run.output
    assert client_writes(kube) == [], "something was written"


def test_a_converge_never_moves_the_live_sha_and_a_rollback_must_be_explicit(project, kube, tmp_path):
    project.host_vars["convex_image_sha"] = OTHER_SHA  # e.g. after playbooks/upgrade.yml
    project.write_host_vars()
    first = project.run()
    assert first.rc == 0, first.output
    del project.host_vars["convex_image_sha"]
    project.write_host_vars()
    kube.reset_audit()
    refused = project.run()
    assert refused.rc != 0
    assert "The backend runs %s but convex_image_sha is %s" % (OTHER_SHA, SHA) in flat(refused)
    assert client_writes(kube) == []
    project.host_vars["convex_backend_version_change"] = "rollback"
    project.write_host_vars()
    rollback = project.run()
    assert rollback.rc == 0, rollback.output
    assert image(objects(kube)[("StatefulSet", "convex")]).endswith(":" + SHA)
    record_file = tmp_path / "state" / "convex-version.yml"
    record = yaml.safe_load(record_file.read_text())
    assert [entry["sha"] for entry in record["history"]] == [OTHER_SHA, SHA] and record["sha"] == SHA
    assert oct(record_file.stat().st_mode & 0o777) == "0o600"


def test_an_image_tag_upstream_never_built_fails_before_anything_is_written(project, kube, tmp_path, monkeypatch):
    """The fake docker (tests/unit/fakebin/docker_images.py) has the backend image but no dashboard."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    docker_images.install(fakebin)
    colima_home = tmp_path / "colima"
    colima_home.mkdir()  # colima v0.10.3 config/files.go: $COLIMA_HOME only when it exists
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"images": {"ghcr.io/get-convex/convex-backend:" + SHA: ["linux/amd64", "linux/arm64"]},
                                    "daemon_host": "unix://%s/default/docker.sock" % colima_home}))
    monkeypatch.setenv("FAKE_DOCKER_IMAGES", str(registry))
    monkeypatch.setenv("COLIMA_HOME", str(colima_home))
    monkeypatch.setenv("PATH", str(fakebin) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    del project.host_vars["convex_backend_image_check"]
    project.write_host_vars()
    run = project.run()
    assert run.rc != 0
    assert "no such manifest: ghcr.io/get-convex/convex-dashboard:%s" % SHA in flat(run), run.output[-3000:]
    assert "release branch" in flat(run)
    assert client_writes(kube) == []
    calls = json.loads(registry.read_text())["calls"]
    assert {c["docker_host"] for c in calls} == {"unix://%s/default/docker.sock" % colima_home}
