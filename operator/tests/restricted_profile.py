"""The restricted Pod Security Standard as a pure check of a pod spec
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted), plus what
this project asks beyond it: a set runAsUser and a read-only root filesystem.

The real judge is the API server's PodSecurity admission, which the cluster tier runs
(`cluster/tests/test_pod_security.py`); this mirror gives the unit tier the same answer in
milliseconds for every spec the builders can render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def violations(pod: Mapping[str, Any], *, read_only_root: bool = True) -> list[str]:
    out: list[str] = []
    psc = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append(flag)
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            out.append(f"volume {volume['name']} is {sorted(kinds)}")
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {caps['add']}")
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            out.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) in (None, 0):
            out.append(f"{name}: runAsUser is not a set non-root uid")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile is {seccomp}")
        if read_only_root and sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{name}: root filesystem is writable")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.append(f"{name}: hostPort")
    return out
