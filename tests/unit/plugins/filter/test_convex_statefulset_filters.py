# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters behind the live checks: immutable StatefulSet fields and the version rule."""
from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.joelclaw.macmini.plugins.filter.convex_immutable_changes import (
    convex_immutable_changes, quantity)
from ansible_collections.joelclaw.macmini.plugins.filter.convex_version_check import (
    convex_version_check, convex_version_record)

A, B, C = "a" * 40, "b" * 40, "c" * 40
LABELS = {"app.kubernetes.io/name": "convex-backend", "app.kubernetes.io/instance": "joelclaw"}


def desired(**spec):
    base = {"serviceName": "convex-svc", "replicas": 1, "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"}, "selector": {"matchLabels": dict(LABELS)},
            "template": {"spec": {"containers": [{"name": "backend", "image": "x:" + A}]}},
            "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                      "metadata": {"name": "data", "labels": dict(LABELS)},
                                      "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "5Gi"}}}}]}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": base}


def live(**spec):
    """As the API server returns it: defaults filled in (volumeMode, claim status, revisionHistoryLimit)."""
    obj = desired(**spec)
    obj["spec"]["revisionHistoryLimit"] = 10
    claim = obj["spec"]["volumeClaimTemplates"][0]
    claim["spec"]["volumeMode"] = "Filesystem"
    claim["status"] = {"phase": "Pending"}
    return obj


def fields(changes):
    return [c["field"] for c in changes]


def test_same_object_with_api_defaults_and_mutable_changes_is_no_change():
    want = desired(replicas=0, template={"spec": {"containers": [{"name": "backend", "image": "x:" + B}]}})
    assert convex_immutable_changes(want, live()) == []
    assert convex_immutable_changes(want, {}) == [] and convex_immutable_changes(want, None) == []


def test_quantities_compare_by_value():
    assert quantity("5Gi") == quantity("5120Mi") == 5 * 1024 ** 3
    assert quantity("1e3") == quantity("1k") == 1000 and quantity("250m") * 4 == 1
    assert quantity("5 GB") is None
    want = desired()
    want["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5120Mi"
    assert convex_immutable_changes(want, live()) == []


def test_each_immutable_field_is_named():
    bigger = desired()
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "10Gi"
    assert fields(convex_immutable_changes(bigger, live())) == [
        "spec.volumeClaimTemplates[data].spec.resources.requests.storage"]
    classed = desired()
    classed["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "local-path"
    assert fields(convex_immutable_changes(classed, live())) == [
        "spec.volumeClaimTemplates[data].spec.storageClassName"]
    assert fields(convex_immutable_changes(desired(serviceName="other"), live())) == ["spec.serviceName"]
    renamed = desired(selector={"matchLabels": dict(LABELS, **{"app.kubernetes.io/instance": "other"})})
    assert fields(convex_immutable_changes(renamed, live())) == [
        "spec.selector.matchLabels.app.kubernetes.io/instance"]
    # A StatefulSet created with OrderedReady (the default when the field is absent) cannot become Parallel.
    old = live()
    del old["spec"]["podManagementPolicy"]
    changes = convex_immutable_changes(desired(), old)
    assert changes == [{"field": "spec.podManagementPolicy", "live": "OrderedReady", "desired": "Parallel"}]


def test_a_class_set_live_but_left_out_now_is_a_change():
    # volumeClaimTemplates is replaced whole, so leaving storageClassName out would drop it.
    was = live()
    was["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "local-path"
    changes = convex_immutable_changes(desired(), was)
    assert changes == [{"field": "spec.volumeClaimTemplates[data].spec.storageClassName",
                        "live": "local-path", "desired": None}]


def test_a_claim_template_added_or_removed_is_a_change():
    two = copy.deepcopy(desired())
    two["spec"]["volumeClaimTemplates"].append({"metadata": {"name": "more"}, "spec": {}})
    assert fields(convex_immutable_changes(two, live())) == ["spec.volumeClaimTemplates"]


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError):
        convex_immutable_changes("statefulset", live())


# ---------------------------------------------------------------- versions
def record(*shas):
    return {"sha": shas[-1], "history": [{"sha": s, "applied": "t%d" % i} for i, s in enumerate(shas)]}


def test_nothing_live_or_the_same_sha_is_always_allowed():
    assert convex_version_check(A, "") == ""
    assert convex_version_check(A, A, record(B, A)) == ""


def test_a_converge_never_moves_the_live_sha():
    message = convex_version_check(A, B, {}, "none")
    assert message.startswith("The backend runs %s but convex_image_sha is %s" % (B, A))
    assert "playbooks/upgrade.yml -e convex_upgrade_sha=%s" % A in message


def test_an_older_sha_is_a_downgrade_even_for_the_upgrade_playbook():
    for change in ("none", "upgrade"):
        message = convex_version_check(A, B, record(A, B), change)
        assert "That is a downgrade" in message and "pin convex_image_sha: %s" % B in message


def test_the_upgrade_playbook_may_move_to_a_sha_not_known_as_older():
    assert convex_version_check(C, B, record(A, B), "upgrade") == ""
    # After a rollback (A, B, A), the live A first ran before B: going to B again is an upgrade.
    assert convex_version_check(B, A, record(A, B, A), "upgrade") == ""
    assert "downgrade" in convex_version_check(A, B, record(A, B, A, B), "none")


def test_rollback_allows_any_sha():
    assert convex_version_check(A, B, record(A, B), "rollback") == ""


def test_an_unknown_change_is_an_error():
    with pytest.raises(AnsibleFilterError):
        convex_version_check(A, B, {}, "force")


def test_the_record_grows_only_when_the_sha_changes():
    first = convex_version_record({}, A, "", "2026-12-01T00:00:00Z")
    assert first == {"sha": A, "history": [{"sha": A, "applied": "2026-12-01T00:00:00Z"}]}
    assert convex_version_record(first, A, A, "later") == first
    second = convex_version_record(first, B, A, "2026-12-02T00:00:00Z")
    assert [e["sha"] for e in second["history"]] == [A, B] and second["sha"] == B
    # A deployment older than the record: the live sha is entered first.
    adopted = convex_version_record({}, B, A, "now")
    assert [e["sha"] for e in adopted["history"]] == [A, B]
