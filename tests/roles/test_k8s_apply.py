# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backend and convex_dashboard in apply mode against a REAL kube-apiserver.

The control plane is tests/roles/k8s_harness.py (etcd + kube-apiserver built from
k8s.io/kubernetes, configured like Talos, Pod Security included). The Convex backend itself
cannot run here: tests/standins/convex/convex_standin.py (TEST STAND-IN, upstream HTTP contract)
answers the admin-key check and the deployment variables, on the URL the roles call.

Variables come the way users set them: the repository's group_vars/all next to the playbook,
the test's own values in the inventory's host_vars/localhost.yml.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from k8s_harness import NODE_NAME, control_plane, free_port, kube  # noqa: F401  pylint: disable=unused-import
from playbook_runner import PlaybookRun, convex_standin_process

ROOT = Path(__file__).resolve().parents[2]
SECRET = "c0ffee" * 10 + "abcd"  # 64 hex characters; a test fixture, not a real secret
NAMESPACE = "joelclaw"  # group_vars/all convex_namespace

PLAY = """
- name: Converge the Convex workloads in apply mode.
  hosts: localhost
  gather_facts: false
  roles:
    - role: joelclaw.macmini.convex_backend
      tags: [convex_backend]
    - role: joelclaw.macmini.convex_dashboard
      tags: [convex_dashboard]
"""

# What Pod Security admission says when an object breaks the warn level: the Warning header this
# kube-apiserver v1.35.0 sent (299 - "would violate PodSecurity \"restricted:latest\": ...").
PSA_WARNING = re.compile(r"would violate PodSecurity", re.I)


@pytest.fixture
def convex(tmp_path):
    """The Convex TEST STAND-IN on a free port, with the instance secret the roles are given."""
    with convex_standin_process(SECRET) as (url, _dashboard_port):
        yield url


class Project:
    """A playbook directory as a user has it: play, group_vars/all from the repo, an inventory."""

    def __init__(self, base: Path, host_vars: dict):
        self.base = base
        (base / "group_vars" / "all").mkdir(parents=True)
        shutil.copy(ROOT / "roles" / "contract" / "defaults" / "main.yml", base / "group_vars" / "all" / "main.yml")
        (base / "inventory" / "host_vars").mkdir(parents=True)
        (base / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        self.host_vars = dict(host_vars)
        self.write_host_vars()
        (base / "play.yml").write_text(PLAY)
        self.runs = 0
        self.prefix = ()  # a command prefix for ansible-playbook (test_convex_backend_apply.py: a private home)

    def write_host_vars(self):
        (self.base / "inventory" / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(self.host_vars))

    def run(self, *args) -> PlaybookRun:
        return self.run_playbook("play.yml", *args)

    def run_playbook(self, playbook, *args) -> PlaybookRun:
        self.runs += 1
        cmd = [*self.prefix, str(Path(sys.executable).with_name("ansible-playbook")), "-i", "inventory/hosts.yml",
               playbook, *args]
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        })
        proc = subprocess.run(cmd, cwd=self.base, env=env, capture_output=True, text=True, timeout=600, check=False)
        (self.base / ("run%d.log" % self.runs)).write_text(proc.stdout + proc.stderr)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


def project_vars(base: Path, kube, url):
    """The host_vars of the tests' project: apply mode against the harness, the stand-in at url."""
    return {
        "convex_state_dir": str(base / "state"),
        "convex_k8s_apply": True,
        "convex_kubeconfig": str(kube.kubeconfig),
        "convex_admin_url": url,
        "convex_backend_instance_secret": SECRET,
        "convex_backend_inngest_url": "http://inngest-svc.joelclaw.svc.cluster.local:8288",
        # The registry check (docker manifest inspect against ghcr.io) cannot run here: no route to
        # the registry. Its case runs with the fake docker in test_convex_backend_apply.py;
        # these tests are about the API server.
        "convex_backend_image_check": "skip",
    }


@pytest.fixture
def project(tmp_path, kube, convex):
    return Project(tmp_path / "project", project_vars(tmp_path, kube, convex))


def objects(kube):
    """The live Convex objects: {(kind, name): object} in the namespace."""
    found = {}
    for base, plural, kind in (("/api/v1", "secrets", "Secret"), ("/api/v1", "services", "Service"),
                               ("/apis/apps/v1", "statefulsets", "StatefulSet"),
                               ("/apis/apps/v1", "deployments", "Deployment")):
        for item in kube.request("GET", "%s/namespaces/%s/%s" % (base, NAMESPACE, plural))["items"]:
            found[(kind, item["metadata"]["name"])] = item
    return found


def changed_tasks(run: PlaybookRun):
    """Names of the tasks reported changed (default callback: 'changed: [localhost]' under 'TASK [...]')."""
    names, task = [], None
    for line in run.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.rindex("]")]
        elif line.startswith("changed:") and task:
            names.append(task)
    return names


# ---------------------------------------------------------------- one converged cluster, many checks
# Most checks below need "a converged cluster, then one more run that changes nothing, or that is
# refused before any write". The `converged` fixture (module scope: one xdist group, see conftest.py)
# converges once from an empty cluster and then runs those steps in turn, each on the cluster the steps
# before it left converged; the steps that change the cluster come last (other managers' fields, then the
# health probes) and undo their change. Each test reads the runs, audit events and objects of its step.
# Every cluster operation happens inside the fixture, so a test of this module that resets the cluster
# (kube fixture) between two of these cannot disturb them.

# A new sha is an upgrade: a plain converge refuses it (live.yml); playbooks/upgrade.yml sets the change.
NEW_IMAGE = {"convex_image_sha": "0123456789abcdef0123456789abcdef01234567", "convex_backend_version_change": "upgrade"}
IMMUTABLE = {  # id: (inventory change, the StatefulSet field the guard names)
    "storage_size": ({"convex_backend_storage_size": "20Gi"}, "spec.volumeClaimTemplates"),
    "storage_class": ({"convex_backend_storage_class": "local-path"}, "spec.volumeClaimTemplates"),
    "service_name": ({"convex_backend_service_name": "convex-svc-two"}, "spec.serviceName"),
    "instance_name": ({"convex_instance_name": "joelclaw-two"}, "spec.selector"),
}
SVC = "/api/v1/namespaces/%s/services/convex-svc" % NAMESPACE
STS = "/apis/apps/v1/namespaces/%s/statefulsets/convex" % NAMESPACE
PVC = "/api/v1/namespaces/%s/persistentvolumeclaims/data-convex-0" % NAMESPACE


class Step:
    """One ansible-playbook run of the shared flow: its result, the audit events it caused (the
    kubeconfig user's, not the harness's), and the Convex objects before and after it."""

    def __init__(self, kube, project, args, playbook="play.yml", settle=False):
        self.before = objects(kube)
        kube.reset_audit()
        self.run = project.run_playbook(playbook, *args)
        if settle:
            kube.settle()
        self.audit = kube.audit_events()
        self.after = objects(kube)


def with_vars(project, change):
    """The inventory's host_vars with change, for one run; restored by the caller (restore_vars)."""
    saved = dict(project.host_vars)
    project.host_vars.update(change)
    project.write_host_vars()
    return saved


def restore_vars(project, saved):
    project.host_vars = saved
    project.write_host_vars()


@pytest.fixture(scope="module")
def converged(control_plane, tmp_path_factory):  # noqa: F811  pylint: disable=redefined-outer-name
    kube = control_plane
    kube.reset()
    base = tmp_path_factory.mktemp("k8s-apply")
    flow = {}
    try:
        with convex_standin_process(SECRET) as (url, _dashboard_port):
            project = Project(base / "project", project_vars(base, kube, url))
            # The first converge, from an empty cluster, with --diff (the leak check reads its diff too).
            flow["first"] = first = Step(kube, project, ("--diff",), settle=True)
            if first.run.rc != 0:  # every test reports this run's failure
                yield flow
                return
            flow["pod"] = kube.get("/api/v1/namespaces/%s/pods/convex-0" % NAMESPACE)
            flow["pvc"] = kube.get(PVC)
            flow["controller_errors"] = list(kube.controllers.errors[-3:])
            flow["second"] = Step(kube, project, ("--diff",))
            flow["check"] = Step(kube, project, ("--check", "--diff"))
            saved = with_vars(project, NEW_IMAGE)
            flow["check_new_image"] = Step(kube, project, ("--check", "--diff"))
            restore_vars(project, saved)
            for case, (change, _field) in IMMUTABLE.items():
                saved = with_vars(project, change)
                flow["immutable_" + case] = Step(kube, project, ())
                restore_vars(project, saved)

            # The Kubernetes probes of convex_health, then a pod that restarted, then a stuck rollout
            # and a claim that lost its volume; undone afterwards (the harness's controllers bind the
            # claim again once the rollout is released).
            (project.base / "health.yml").write_text(HEALTH_PLAY)
            flow["probes"] = [kube_probes(project)]
            kube.set_restarts(NAMESPACE, "convex-0", 5)
            flow["probes"].append(kube_probes(project))
            kube.hold("StatefulSet", NAMESPACE, "convex")
            kube.patch_status(PVC, {"phase": "Pending"})
            kube.settle()
            flow["probes"].append(kube_probes(project))
            kube.release("StatefulSet", NAMESPACE, "convex")
            kube.set_restarts(NAMESPACE, "convex-0", 0)
            kube.settle()

            # Someone else's server-side apply (kubectl's default manager name) adds an annotation the
            # roles do not declare; a scale through the scale subresource (an Update by another manager)
            # changes spec.replicas, which the roles do declare. Then a converge.
            kube.request("PATCH", SVC + "?fieldManager=kubectl", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "convex-svc", "namespace": NAMESPACE, "annotations": {"example.com/owner": "ops"}}},
                "application/apply-patch+yaml")
            kube.request("PATCH", STS + "/scale?fieldManager=ops-scaler", {"spec": {"replicas": 2}},
                         "application/merge-patch+json")
            kube.settle()
            flow["other_managers"] = Step(kube, project, ())
            flow["other_managers_live"] = (kube.get(SVC), kube.get(STS))
        yield flow
    finally:
        kube.reset()


def kube_probes(project):
    """convex_health's Kubernetes probes as {name: (status, value)} (HEALTH_PLAY in the project)."""
    run = project.run_playbook("health.yml")
    if run.rc != 0:
        return {"health.yml failed": run.output}
    probes = json.loads((project.base / "probes.json").read_text())
    return {p["name"]: (p["status"], p["value"]) for p in probes if p["name"] in ("statefulset", "pod_restarts", "pvc")}


def first_converged(flow):
    first = flow["first"].run
    assert first.rc == 0, first.output
    return flow["first"]


def test_apply_twice_converges_on_a_real_api_server(converged):
    first = first_converged(converged)
    assert SECRET not in first.run.output

    live = first.after
    assert {("Secret", "convex-secrets"), ("Service", "convex-svc"), ("StatefulSet", "convex"),
            ("Deployment", "convex-dashboard"), ("Service", "convex-dashboard-svc")} <= set(live)
    sts = live[("StatefulSet", "convex")]
    # Rolled out through the harness's controllers; the real server defaulted the object.
    assert sts["status"]["readyReplicas"] == sts["spec"]["replicas"] == 1
    assert sts["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    # Server-side apply: the fields are owned by the roles' field manager, no last-applied annotation.
    managers = {m["manager"] for m in sts["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert managers == {"joelclaw-macmini"}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in sts["metadata"].get("annotations", {})
    assert converged["pvc"]["status"]["phase"] == "Bound"

    second = converged["second"].run
    assert second.rc == 0, second.output
    assert second.recap()["changed"] == 0, "changed on the second run: %s\n%s" % (changed_tasks(second),
                                                                                  second.stdout)
    # Nothing was rewritten: workloads keep their generation, the others their resourceVersion
    # (the controllers write workload status, which moves resourceVersion but not generation).
    again = converged["second"].after
    for key, obj in live.items():
        field = "generation" if key[0] in ("StatefulSet", "Deployment") else "resourceVersion"
        assert again[key]["metadata"][field] == obj["metadata"][field], key


def test_workload_pods_are_admitted_under_the_enforced_baseline(converged):
    first_converged(converged)
    # The harness created the StatefulSet's pod from its template: Pod Security (enforce baseline,
    # as on Talos) admitted it. A refusal would leave no pod and a Forbidden in the controllers' log.
    pod = converged["pod"]
    assert pod is not None, converged["controller_errors"]
    assert pod["status"]["phase"] == "Running"


# The one restricted violation left by decision (roles/convex_backend/README.md, "Pod Security
# admission"): the backend image has no USER and root-only binaries, so runAsNonRoot cannot be set.
# The text, from k8s.io/pod-security-admission v0.35.0 (the module this kube-apiserver is built with):
# reason "runAsNonRoot != true" with its detail in parentheses (policy/check_runAsNonRoot.go,
# policy/checks.go ForbiddenDetail), after 'would violate PodSecurity "restricted:latest": '
# (admission/admission.go). A second violation would follow after ", " and break the full match.
BACKEND_RESIDUAL = re.compile(r'would violate PodSecurity "restricted:latest": runAsNonRoot != true \([^()]*\)')


def test_apply_leaves_only_the_documented_pod_security_violation(converged, control_plane):  # noqa: F811  pylint: disable=redefined-outer-name
    first = first_converged(converged)
    # What the server said (Talos audits and warns at restricted): the backend StatefulSet's
    # runAsNonRoot, nothing else, and nothing for the namespace, Services or dashboard Deployment.
    violations = control_plane.pod_security_violations(first.audit)
    assert violations, "the audit log recorded no violation for the backend: %s" % first.run.output
    for violation in violations:
        what, _sep, text = violation.partition(": ")
        assert what.split(" ", 1)[1] == "statefulsets/convex", violation
        assert BACKEND_RESIDUAL.fullmatch(text), violation
    # What kubernetes.core prints when it keeps the warning (it drops any holding ", "): the same one.
    for line in first.run.output.splitlines():
        if PSA_WARNING.search(line):
            assert "runAsNonRoot != true" in line and "capabilities" not in line, line


def writes_in(events):
    """Writes among audit events that were not server-side dry runs: ["<verb> <URI>"]."""
    return ["%s %s" % (e["verb"], e["requestURI"]) for e in events
            if e["verb"] in ("create", "update", "patch", "delete", "deletecollection")
            and "dryRun=All" not in e["requestURI"]]


def client_writes(kube):
    """Writes by the roles since the last reset_audit() that were not server-side dry runs."""
    return writes_in(kube.audit_events())


def test_check_mode_on_an_empty_cluster_writes_nothing(project, kube):
    run = project.run("--check", "--diff")
    assert run.rc == 0, run.output
    assert kube.get("/api/v1/namespaces/" + NAMESPACE) is None
    assert client_writes(kube) == []
    # The namespace was dry-run on the server; the objects inside it could not be (NotFound), so
    # both roles report them as to be created without sending them.
    assert any("dryRun=All" in e["requestURI"] and e.get("objectRef", {}).get("resource") == "namespaces"
               for e in kube.audit_events())
    # (The namespace's own requests carry its name as objectRef.namespace too: k8s.io/apiserver v0.35.0
    # pkg/endpoints/request/requestinfo.go reads /namespaces/{name} as the namespace.)
    assert ["%s %s" % (e["verb"], e["requestURI"]) for e in kube.audit_events()
            if e.get("objectRef", {}).get("namespace") == NAMESPACE
            and e["objectRef"].get("resource") != "namespaces" and e["verb"] in ("create", "update", "patch")] == []
    changed = changed_tasks(run)
    assert "joelclaw.macmini.convex_backend : Report the backend objects as to be created " \
        "(check mode, the namespace does not exist yet)." in changed, changed
    assert "joelclaw.macmini.convex_dashboard : Report the dashboard objects as to be created " \
        "(check mode, the namespace does not exist yet)." in changed, changed
    assert "StatefulSet convex" in run.stdout and "Deployment convex-dashboard" in run.stdout


def resource_versions(live):
    return {k: v["metadata"]["resourceVersion"] for k, v in live.items() if k[0] in ("Secret", "Service")}


def test_check_mode_on_a_converged_cluster_writes_nothing_and_reports_no_change(converged):
    first_converged(converged)
    step = converged["check"]
    check = step.run
    assert check.rc == 0, check.output
    assert writes_in(step.audit) == []
    # The server-side dry runs reached the server.
    assert any("dryRun=All" in e["requestURI"] for e in step.audit)
    assert check.recap()["changed"] == 0, changed_tasks(check)
    assert resource_versions(step.after) == resource_versions(step.before)


def test_check_mode_on_a_converged_cluster_reports_a_new_image_without_applying_it(converged):
    first_converged(converged)
    step = converged["check_new_image"]
    check = step.run
    assert check.rc == 0, check.output
    assert writes_in(step.audit) == []
    assert "joelclaw.macmini.convex_backend : Ensure the backend StatefulSet is applied and its rollout has finished." \
        in changed_tasks(check)
    live = step.after[("StatefulSet", "convex")]
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":" + first_sha())


def first_sha():
    return yaml.safe_load((ROOT / "roles" / "contract" / "defaults" / "main.yml").read_text())["convex_image_sha"]


def test_dashboard_tag_alone_on_an_empty_cluster(project, kube):
    run = project.run("--tags", "convex_dashboard")
    assert run.rc == 0, run.output
    live = objects(kube)
    assert {("Deployment", "convex-dashboard"), ("Service", "convex-dashboard-svc")} <= set(live)


HEALTH_PLAY = """
- name: Probe the Convex workloads' Kubernetes state.
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the health probes.
      joelclaw.macmini.convex_health:
        url: "{{ convex_admin_url }}"
        kubeconfig: "{{ convex_kubeconfig }}"
        namespace: "{{ convex_namespace }}"
        statefulset: "{{ convex_backend_statefulset_name }}"
        fail_on: never
      register: health

    - name: Keep the probes for the test.
      ansible.builtin.copy:
        content: "{{ health.probes | to_json }}"
        dest: "{{ playbook_dir }}/probes.json"
        mode: "0600"
"""


def test_health_kubernetes_probes_read_real_objects(converged):
    first_converged(converged)
    healthy, restarted, stuck = converged["probes"]
    assert healthy == {"statefulset": ("ok", "1/1 ready"), "pod_restarts": ("ok", "0 restarts in 1 pods"),
                       "pvc": ("ok", "1 Bound")}
    # After set_restarts(5).
    assert restarted["pod_restarts"] == ("fail", "5 restarts in 1 pods"), restarted
    # A rollout that never finishes and a claim that lost its volume.
    assert stuck["statefulset"] == ("fail", "0/1 ready"), stuck
    assert stuck["pvc"] == ("fail", "data-convex-0=Pending"), stuck


WRITES = ("create", "update", "patch", "delete", "deletecollection")


@pytest.mark.parametrize("case", list(IMMUTABLE))
def test_an_immutable_statefulset_change_is_refused_before_any_write(converged, case):
    first_converged(converged)
    field = IMMUTABLE[case][1]
    step = converged["immutable_" + case]
    run = step.run
    assert run.rc != 0
    # The role's guard (live.yml) names the field, not the API server's 422 halfway through.
    assert "Kubernetes refuses to change " + field in run.output, run.output
    assert "Nothing was changed." in run.output
    # Refused before any object was sent: no write, not even a dry run, to the Secret or Services.
    assert writes_in(step.audit) == []
    assert [e["requestURI"] for e in step.audit if e["verb"] in WRITES
            and e.get("objectRef", {}).get("resource") in ("secrets", "services", "statefulsets")] == []
    assert set(step.after) == set(step.before)
    assert resource_versions(step.after) == resource_versions(step.before)


def test_fields_of_other_managers_survive_and_ours_are_taken_back(converged):
    """roles/convex_backend/README.md, "field manager": server-side apply with force_conflicts.
    (The fixture made the other managers' changes: an annotation on the Service, replicas 2.)"""
    first_converged(converged)
    second = converged["other_managers"].run
    assert second.rc == 0, second.output
    live_svc, live_sts = converged["other_managers_live"]
    # Not declared by the roles: left alone, still owned by its manager.
    assert live_svc["metadata"]["annotations"]["example.com/owner"] == "ops"
    assert "kubectl" in {m["manager"] for m in live_svc["metadata"]["managedFields"]}
    # Declared by the roles: taken back (force_conflicts), the inventory's value wins.
    assert live_sts["spec"]["replicas"] == 1
    owners = [m["manager"] for m in live_sts["metadata"]["managedFields"]
              if "f:replicas" in m.get("fieldsV1", {}).get("f:spec", {})]
    assert owners == ["joelclaw-macmini"], owners


STORAGE_PLAY = """
- name: Apply colima_talos's local-path storage, then the Convex workloads, in one play.
  hosts: localhost
  # As site.yml: colima_talos's defaults read the user_dir fact.
  gather_facts: true
  gather_subset: [min]
  pre_tasks:
    - name: Apply the local-path StorageClass manifest as colima_talos does once its node is up.
      ansible.builtin.include_role:
        name: joelclaw.macmini.colima_talos
        tasks_from: storage.yml
      vars:
        __colima_talos_cluster: {nodes: ["%s"]}
  roles:
    - role: joelclaw.macmini.convex_backend
    - role: joelclaw.macmini.convex_dashboard
"""
STORAGE_CLUSTER_OBJECTS = ("/apis/storage.k8s.io/v1/storageclasses/local-path",
                           "/apis/rbac.authorization.k8s.io/v1/clusterroles/local-path-provisioner",
                           "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/local-path-provisioner")


def test_local_path_storage_and_the_convex_objects_apply_together(project, kube):
    (project.base / "storage.yml").write_text(STORAGE_PLAY % NODE_NAME)
    try:
        run = project.run_playbook("storage.yml")
        assert run.rc == 0, run.output
        kube.settle()
        # Validated and admitted: the StorageClass is the default one, the provisioner's objects exist.
        sc = kube.get(STORAGE_CLUSTER_OBJECTS[0])
        assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert sc["provisioner"] == "rancher.io/local-path"
        assert kube.get("/apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner")
        # The backend's claim names no class; the DefaultStorageClass admission plugin gave it local-path.
        pvc = kube.get("/api/v1/namespaces/%s/persistentvolumeclaims/data-convex-0" % NAMESPACE)
        assert pvc["spec"]["storageClassName"] == "local-path"
        # Both namespaces carry their Pod Security labels (privileged for the provisioner's hostPath helper pods).
        labels = {name: kube.get("/api/v1/namespaces/" + name)["metadata"].get("labels", {})
                  for name in ("local-path-storage", NAMESPACE)}
        assert {k: v for k, v in labels["local-path-storage"].items() if k.startswith("pod-security")} == {
            "pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/audit": "privileged",
            "pod-security.kubernetes.io/warn": "privileged"}
        assert labels[NAMESPACE]["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels[NAMESPACE]["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels[NAMESPACE]["pod-security.kubernetes.io/audit"] == "restricted"
        # Only the backend's documented residual was audited; nothing in local-path-storage.
        assert all(v.split(" ", 1)[1].startswith("statefulsets/convex:") for v in kube.pod_security_violations()), \
            kube.pod_security_violations()
        again = project.run_playbook("storage.yml")
        assert again.rc == 0, again.output
        assert again.recap()["changed"] == 0, changed_tasks(again)
    finally:  # cluster-scoped: reset() only removes namespaces
        for path in STORAGE_CLUSTER_OBJECTS:
            if kube.get(path) is not None:
                kube.request("DELETE", path)
