"""The admin's side of admission: keep the signed list equal to the nodes a mesh should have.

Whoever runs a mesh (the local launcher, the Kubernetes operator, a test harness) knows which
nodes it started and their public keys; `next_list` turns that into the next signed admission
list — the same list again when nothing changed (so a relaunch does not bump the version), else
one version above the current one. Pure over bytes, so the operator can keep the list in a
ConfigMap and the launcher in a file (`write_members`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratos.common.admission import AdmissionRefused, Member, issue, open_list
from stratos.common.files import write_atomic

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from stratos.common.identity import Identity


def next_list(
    current: bytes | None, admin: Identity, mesh_id: str, members: Iterable[Member]
) -> bytes | None:
    """The signed list to publish for `members`, or None when `current` already says that.

    A `current` that is not this admin's list for this mesh is replaced (version 1 above it
    cannot be known, so version 1 above 0)."""
    wanted = sorted(members, key=lambda m: m.node_id)
    version = 0
    if current is not None:
        try:
            held = open_list(current, admin.public_bytes, mesh_id)
        except AdmissionRefused:
            held = None
        if held is not None:
            if sorted(held.members(), key=lambda m: m.node_id) == wanted:
                return None
            version = held.version
    return issue(admin, mesh_id, version + 1, wanted)


def write_members(path: Path, admin: Identity, mesh_id: str, members: Iterable[Member]) -> bool:
    """Rewrite the list file at `path` when `members` differ from what it says; True if it did.
    Written 0600 like everything under STRATOS_HOME: the processes that read it run as the
    admin's user (on Kubernetes the list is a ConfigMap instead)."""
    current = path.read_bytes() if path.exists() else None
    raw = next_list(current, admin, mesh_id, members)
    if raw is None:
        return False
    write_atomic(path, raw, mode=0o600)
    return True
