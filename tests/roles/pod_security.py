# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An offline reading of the Pod Security Standards, to predict the admission warnings of a pod spec.

The rules are the controls of the "Baseline" and "Restricted" tables of the Pod Security Standards
(kubernetes/website content/en/docs/concepts/security/pod-security-standards.md, i.e.
https://kubernetes.io/docs/concepts/security/pod-security-standards/), which the pod-security-admission
library implements (kubernetes staging/src/k8s.io/pod-security-admission/policy/check_*.go). The
returned names are those checks' forbidden-reason texts as the admission warning prints them
(e.g. `runAsNonRoot != true`); only the controls a pod spec of these roles can touch are modelled
(no sysctls, SELinux, AppArmor or Windows options are ever set here, so those are not checked).
This is a TEST MODEL, not the admission library: the real warnings are listed in the role README
under what to check on the Mac.
"""
from __future__ import annotations

# Baseline: capabilities that may be added (the "Capabilities" row of the Baseline table).
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
# Restricted: the volume types allowed (the "Volume Types" row of the Restricted table).
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def _containers(pod):
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def baseline(pod):
    found = []
    if any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")):
        found.append("host namespaces")
    if any((c.get("securityContext") or {}).get("privileged") for c in _containers(pod)):
        found.append("privileged")
    for c in _containers(pod):
        added = set(((c.get("securityContext") or {}).get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append("non-default capabilities")
    if any("hostPath" in v for v in pod.get("volumes", [])):
        found.append("hostPath volumes")
    if any(p.get("hostPort") for c in _containers(pod) for p in c.get("ports", [])):
        found.append("hostPort")
    profiles = [(pod.get("securityContext") or {}).get("seccompProfile")] + \
        [(c.get("securityContext") or {}).get("seccompProfile") for c in _containers(pod)]
    if any(p and p.get("type") == "Unconfined" for p in profiles):
        found.append("seccompProfile")
    return found


def restricted(pod):
    found = baseline(pod)
    pod_sc = pod.get("securityContext") or {}
    containers = _containers(pod)
    scs = [c.get("securityContext") or {} for c in containers]
    if any(set(v) - {"name"} - RESTRICTED_VOLUMES for v in pod.get("volumes", [])):
        found.append("restricted volume types")
    if any(sc.get("allowPrivilegeEscalation") is not False for sc in scs):
        found.append("allowPrivilegeEscalation != false")
    for sc in scs:
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append("unrestricted capabilities")
            break
    # runAsNonRoot: true on the pod, or on every container, and false nowhere.
    pod_nonroot = pod_sc.get("runAsNonRoot")
    if pod_nonroot is False or any(sc.get("runAsNonRoot") is False for sc in scs) or \
            (pod_nonroot is not True and not all(sc.get("runAsNonRoot") is True for sc in scs)):
        found.append("runAsNonRoot != true")
    if pod_sc.get("runAsUser") == 0 or any(sc.get("runAsUser") == 0 for sc in scs):
        found.append("runAsUser=0")
    allowed = ("RuntimeDefault", "Localhost")
    pod_profile = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_profile not in allowed and not all((sc.get("seccompProfile") or {}).get("type") in allowed for sc in scs):
        found.append("seccompProfile")
    return found
