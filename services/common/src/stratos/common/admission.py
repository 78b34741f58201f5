"""Who may take part in a mesh: the admission list, signed by the mesh's admin key.

A decentralized mesh is run by strangers, so a node's name means nothing by itself: a node is
*admitted* when the mesh's admin (the operator, or the launcher of a local mesh) lists its ed25519
public key under its name and role, and signs that list. Every consumer of a state-changing
message or RPC looks the sender up here and checks its signature against the listed key (see
`stratos.common.signed`), so a name cannot be taken over and an invented node is never believed.
Where the ledger decides membership (`RegisterNode` with a deposit), the list is built from the
chain's registered nodes the same way.

The list is pure data: `issue` makes one, `open_list` checks one (signature by the pinned admin
key, the mesh it belongs to, unique names and keys, valid names and roles) and returns an
`Admission` to look nodes up in. A consumer keeps the newest list it has opened and never goes
back to an older version (`Admission.replaces`), so a stale list replayed by whoever carries it
(a file, NATS) cannot re-admit a removed node.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError

from stratos.common.errors import PermissionDenied
from stratos.common.identity import verify
from stratos.common.limits import MAX_NODE_ID_CHARS, NODE_ID_PATTERN
from stratos.v1 import auth_pb2

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from stratos.common.identity import Identity

DOMAIN = b"stratos.admission.v1\x00"
ROLES = MappingProxyType(
    {
        auth_pb2.MESH_ROLE_STORAGE: "storage",
        auth_pb2.MESH_ROLE_META: "meta",
        auth_pb2.MESH_ROLE_VALIDATOR: "validator",
        auth_pb2.MESH_ROLE_INCENTIVE: "incentive",
        auth_pb2.MESH_ROLE_COMPUTE: "compute",
    }
)
MAX_ADMITTED = 100_000  # nodes in one list: bounds what a consumer parses and keeps
MAX_LIST_BYTES = MAX_ADMITTED * (MAX_NODE_ID_CHARS + 48)
_NODE_ID = re.compile(NODE_ID_PATTERN)


class AdmissionRefused(PermissionDenied):
    """An admission list that cannot be trusted (bad signature, another mesh, malformed)."""


@dataclass(frozen=True)
class Member:
    node_id: str
    role: int  # an auth_pb2.MESH_ROLE_* value
    public_key: bytes

    @property
    def role_name(self) -> str:
        return ROLES[self.role]


@dataclass(frozen=True)
class Admission:
    """One opened admission list: look members up by name or by key."""

    mesh_id: str
    version: int
    issued_unix_ms: int
    by_id: Mapping[str, Member] = field(repr=False)
    by_key: Mapping[bytes, Member] = field(repr=False)

    def member(self, node_id: str) -> Member | None:
        return self.by_id.get(node_id)

    def member_by_key(self, public_key: bytes) -> Member | None:
        return self.by_key.get(public_key)

    def key_of(self, node_id: str, role: int | None = None) -> bytes | None:
        """The public key admitted under `node_id` (and `role`, when given), or None."""
        m = self.by_id.get(node_id)
        if m is None or (role is not None and m.role != role):
            return None
        return m.public_key

    def members(self, role: int | None = None) -> list[Member]:
        return [m for m in self.by_id.values() if role is None or m.role == role]

    def replaces(self, older: Admission | None) -> bool:
        """True when this list may replace `older` (the same mesh, a strictly newer version)."""
        return older is None or (self.mesh_id == older.mesh_id and self.version > older.version)

    def __len__(self) -> int:
        return len(self.by_id)


def issue(
    admin: Identity,
    mesh_id: str,
    version: int,
    members: Iterable[Member],
    now_ms: int | None = None,
) -> bytes:
    """A serialized SignedAdmissionList of `members`, signed by `admin`."""
    lst = auth_pb2.AdmissionList(
        mesh_id=mesh_id,
        version=version,
        issued_unix_ms=int(time.time() * 1000) if now_ms is None else now_ms,
        nodes=[
            auth_pb2.AdmittedNode(node_id=m.node_id, role=m.role, public_key=m.public_key)
            for m in members
        ],
    )
    body = lst.SerializeToString(deterministic=True)
    _check(lst, len(body))  # never sign a list a consumer would refuse
    return auth_pb2.SignedAdmissionList(
        list=body, signature=admin.sign(DOMAIN + body)
    ).SerializeToString()


def open_list(raw: bytes, admin_key: bytes, mesh_id: str) -> Admission:
    """The admission list in `raw` (a SignedAdmissionList), when `admin_key` signed it for
    `mesh_id` and it is well formed; raises AdmissionRefused with one sentence otherwise."""
    if len(raw) > MAX_LIST_BYTES + 256:
        raise AdmissionRefused(f"the admission list is larger than {MAX_LIST_BYTES} bytes")
    try:
        signed = auth_pb2.SignedAdmissionList.FromString(raw)
    except DecodeError:
        raise AdmissionRefused("the admission list is not a SignedAdmissionList") from None
    if not verify(admin_key, signed.signature, DOMAIN + signed.list):
        raise AdmissionRefused("the admission list is not signed by this mesh's admin key")
    try:
        lst = auth_pb2.AdmissionList.FromString(signed.list)
    except DecodeError:
        raise AdmissionRefused("the signed admission list does not parse") from None
    if lst.mesh_id != mesh_id:
        raise AdmissionRefused(
            f"the admission list is for the mesh {lst.mesh_id!r}, not {mesh_id!r}"
        )
    _check(lst, len(signed.list))
    by_id = {n.node_id: Member(n.node_id, n.role, bytes(n.public_key)) for n in lst.nodes}
    return Admission(
        mesh_id=lst.mesh_id,
        version=lst.version,
        issued_unix_ms=lst.issued_unix_ms,
        by_id=MappingProxyType(by_id),
        by_key=MappingProxyType({m.public_key: m for m in by_id.values()}),
    )


def _check(lst: auth_pb2.AdmissionList, size: int) -> None:
    if size > MAX_LIST_BYTES or len(lst.nodes) > MAX_ADMITTED:
        raise AdmissionRefused(f"an admission list holds at most {MAX_ADMITTED} nodes")
    if not lst.mesh_id or len(lst.mesh_id) > MAX_NODE_ID_CHARS:
        raise AdmissionRefused("the admission list names no mesh (or a name over 64 characters)")
    if lst.version == 0:
        raise AdmissionRefused("the admission list has no version (versions start at 1)")
    ids: set[str] = set()
    keys: set[bytes] = set()
    for n in lst.nodes:
        if not _NODE_ID.fullmatch(n.node_id):
            raise AdmissionRefused(
                f"the admission list names a node {n.node_id[:80]!r}, which is not a node name"
            )
        if n.role not in ROLES:
            raise AdmissionRefused(f"the admission list gives {n.node_id} no known role")
        if len(n.public_key) != 32:
            raise AdmissionRefused(
                f"the admission list gives {n.node_id} a key that is not 32 bytes"
            )
        if n.node_id in ids:
            raise AdmissionRefused(f"the admission list names {n.node_id} twice")
        if n.public_key in keys:
            raise AdmissionRefused(
                f"the admission list gives {n.node_id} a key another node already holds"
            )
        ids.add(n.node_id)
        keys.add(n.public_key)
