"""Secret material reaches a pod one way only: a Secret mounted as files that the pod's user
alone can read — never a ConfigMap, never an environment variable.

Environment variables end up in `kubectl describe`, crash reports, `/proc/<pid>/environ` of
every process the service starts and in the env dumps people paste into issues; ConfigMaps are
readable by anyone with `view` on the namespace. So:

- `secret_files` is the one way a builder mounts a Secret: read-only, mode 0440 (owner root,
  group = the pod's fsGroup, which is the service's own user; others nothing), and a variable
  may carry the file's *path* (`STRATOS_*_FILE`), not its content;
- `leaks` is the check: given rendered manifests it names every place where secret material
  or a way around the rule appears (a `secretKeyRef` or `envFrom: secretRef`, a private key, a
  NATS seed or a password in a ConfigMap or a literal variable, a Secret volume readable by
  others). The unit tests run it over every cluster the builders can render, so a builder that
  puts a key in the wrong place fails them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_FILE_MODE = 0o440

# What secret material looks like in text: PEM private keys, NATS credentials (a creds file's
# seed block, an NKey seed: 'S' + type + 56 base32 characters) and password/token settings
# with a literal value (a `$VARIABLE` reference is no value).
_SECRET_TEXT = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*SEED-----"), "a NATS credentials seed"),
    (re.compile(r"\bS[OAUNCXP][A-Z2-7]{56}\b"), "an NKey seed"),
    (
        re.compile(r"\b(password|passwd|token|secret)\b[\"']?\s*[:=]\s*[\"']?[^\s\"'$]", re.I),
        "a password or token",
    ),
)
# Variable names that promise a secret value (a *_FILE variable names a path instead).
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|SEED|PRIVATE_KEY|CREDENTIALS)$", re.I)
_POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def secret_files(
    volume: str, secret_name: str, mount_path: str, *, mode: int = SECRET_FILE_MODE
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod volume and the container mount that put Secret `secret_name`'s keys as files
    under `mount_path`. `mode` may be narrower than 0440, never wider."""
    if mode & ~SECRET_FILE_MODE:
        raise ValueError(f"secret files must not be readable beyond owner and group: {mode:o}")
    return (
        {"name": volume, "secret": {"secretName": secret_name, "defaultMode": mode}},
        {"name": volume, "mountPath": mount_path, "readOnly": True},
    )


def secret_in_text(text: str) -> str | None:
    """What kind of secret material `text` holds, or None."""
    for pattern, what in _SECRET_TEXT:
        if pattern.search(text):
            return what
    return None


def _pod_spec(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if manifest.get("kind") == "Pod":
        return manifest.get("spec") or {}
    if manifest.get("kind") in _POD_KINDS:
        return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def _container_leaks(where: str, container: Mapping[str, Any]) -> Iterable[str]:
    name = container.get("name", "?")
    for var in container.get("env") or []:
        var_name = var.get("name", "?")
        at = f"{where} container {name} variable {var_name}"
        if ((var.get("valueFrom") or {}).get("secretKeyRef")) is not None:
            yield f"{at} reads a Secret: mount it as files (secret_files) instead"
            continue
        value = var.get("value")
        if not isinstance(value, str) or not value:
            continue
        if what := secret_in_text(value):
            yield f"{at} holds {what}"
        elif _SECRET_NAME.search(var_name):
            yield f"{at} carries a secret in the environment: pass a *_FILE path instead"
    for source in container.get("envFrom") or []:
        if source.get("secretRef") is not None:
            yield f"{where} container {name} takes its environment from a Secret"


def _mode_leak(at: str, mode: Any) -> Iterable[str]:
    if mode is None:
        yield f"{at} leaves the files world-readable (no defaultMode; the default is 0644)"
    elif isinstance(mode, int) and mode & ~SECRET_FILE_MODE:
        yield f"{at} makes the files readable beyond owner and group ({mode:o})"


def _volume_leaks(where: str, volume: Mapping[str, Any]) -> Iterable[str]:
    at = f"{where} volume {volume.get('name', '?')}"
    if (secret := volume.get("secret")) is not None:
        yield from _mode_leak(at, secret.get("defaultMode"))
        for item in secret.get("items") or []:
            if "mode" in item:
                yield from _mode_leak(f"{at} item {item.get('key')}", item["mode"])
    projected = volume.get("projected") or {}
    if any("secret" in s for s in projected.get("sources") or []):
        yield from _mode_leak(at, projected.get("defaultMode"))


def leaks(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """One sentence per place where secret material sits outside a properly mounted Secret."""
    found: list[str] = []
    for manifest in manifests:
        where = f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')}"
        if manifest.get("kind") == "ConfigMap":
            for key, value in (manifest.get("data") or {}).items():
                if what := secret_in_text(str(value)):
                    found.append(f"{where} key {key} holds {what}: it belongs in a Secret")
            continue
        pod = _pod_spec(manifest)
        if pod is None:
            continue
        for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            found.extend(_container_leaks(where, container))
        for volume in pod.get("volumes") or []:
            found.extend(_volume_leaks(where, volume))
    return found
