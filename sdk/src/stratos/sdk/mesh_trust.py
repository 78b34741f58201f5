"""Who is in the local mesh: the launcher is its admin.

`stratos dev up` holds the local mesh's admin key (run/admin.pem, 0600, made once), gives every
process it starts an identity key — a storage node and the incentive service their
data_dir/identity.pem, the index run/index/identity.pem, a validator its validator.pem — and
writes the admission list signed by
the admin key (run/admission.bin) with every one of them; its version goes up whenever the set
of nodes changes (`stratos dev add-storage`, a node removed from mesh.json). Storage nodes and
the index are pointed at it through STRATOS_MESH_ID, STRATOS_ADMIN_KEY, STRATOS_ADMISSION_FILE
and re-read it within a second of a change. `stratos node drain` signs with the same admin key
(`admin_identity`). Nothing here is secret but the .pem files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stratos.common.errors import FailedPrecondition
from stratos.sdk.meshplan import INCENTIVE, INDEX, STORAGE, VALIDATOR, ProcessRecord

if TYPE_CHECKING:
    from stratos.common.identity import Identity
    from stratos.sdk.home import Home

LOCAL_MESH_ID = "local"
INDEX_NODE_ID = "index-1"


def admin_key_file(run_dir: Path) -> Path:
    return run_dir / "admin.pem"


def admission_file(run_dir: Path) -> Path:
    return run_dir / "admission.bin"


def index_key_file(run_dir: Path) -> Path:
    return run_dir / INDEX / "identity.pem"


def _key_file(run_dir: Path, rec: ProcessRecord) -> Path | None:
    if rec.kind == INDEX:
        return index_key_file(run_dir)
    if rec.kind in (STORAGE, INCENTIVE) and rec.data_dir:
        return Path(rec.data_dir) / "identity.pem"
    if rec.kind == VALIDATOR and rec.env.get("STRATOS_VALIDATOR_KEY_FILE"):
        return Path(rec.env["STRATOS_VALIDATOR_KEY_FILE"])
    return None


def admit(home: Home, records: list[ProcessRecord]) -> bool:
    """Make the admin key and every process's key (once), write the admission list for
    `records` when it changed, and give the index and storage nodes the settings that point at
    it. True when the list was (re)written."""
    from stratos.common.admission import Member
    from stratos.common.identity import load_or_create
    from stratos.common.mesh_admin import write_members
    from stratos.v1 import auth_pb2

    roles = {
        INDEX: auth_pb2.MESH_ROLE_META,
        STORAGE: auth_pb2.MESH_ROLE_STORAGE,
        VALIDATOR: auth_pb2.MESH_ROLE_VALIDATOR,
        INCENTIVE: auth_pb2.MESH_ROLE_INCENTIVE,
    }
    run_dir = home.run_dir
    admin = load_or_create(admin_key_file(run_dir))
    members = []
    for rec in records:
        key_file = _key_file(run_dir, rec)
        if key_file is None:
            continue
        node_id = INDEX_NODE_ID if rec.kind == INDEX else rec.name
        members.append(Member(node_id, roles[rec.kind], load_or_create(key_file).public_bytes))
        if rec.kind in (INDEX, STORAGE, INCENTIVE):
            rec.env.update(service_env(run_dir, admin.public_bytes))
        if rec.kind == INDEX:
            rec.env.update(STRATOS_NODE_ID=node_id, STRATOS_IDENTITY_FILE=str(key_file))
    return write_members(admission_file(run_dir), admin, LOCAL_MESH_ID, members)


def service_env(run_dir: Path, admin_key: bytes) -> dict[str, str]:
    """What points a storage node or the index at the local mesh's admission list."""
    return {
        "STRATOS_MESH_ID": LOCAL_MESH_ID,
        "STRATOS_ADMIN_KEY": admin_key.hex(),
        "STRATOS_ADMISSION_FILE": str(admission_file(run_dir)),
    }


def admin_identity(home: Home, key_file: Path | None = None) -> Identity:
    """The admin key that signs admin requests: `key_file` (a remote mesh's), else the local
    mesh's under STRATOS_HOME."""
    from stratos.common.identity import load_or_create

    path = key_file or admin_key_file(home.run_dir)
    if not path.is_file():
        raise FailedPrecondition(
            f"no admin key at {path}: this is an admin action; start a local mesh with "
            "'stratos dev up', or give the mesh's admin key with --admin-key FILE"
        )
    return load_or_create(path)


def admit_extra(home: Home, node_id: str, role: int, public_key: bytes) -> dict[str, str]:
    """Add one node the launcher did not start (a harness's own process) to the local mesh's
    list, and return the settings that process needs (`service_env`). The next `admit`
    rebuilds the list from mesh.json and leaves it out again."""
    from stratos.common.admission import Member, open_list
    from stratos.common.identity import load_or_create
    from stratos.common.mesh_admin import write_members

    run_dir = home.run_dir
    admin = load_or_create(admin_key_file(run_dir))
    held = open_list(admission_file(run_dir).read_bytes(), admin.public_bytes, LOCAL_MESH_ID)
    members = [m for m in held.members() if m.node_id != node_id]
    members.append(Member(node_id, role, public_key))
    write_members(admission_file(run_dir), admin, LOCAL_MESH_ID, members)
    return service_env(run_dir, admin.public_bytes)
