"""run/mesh.json, the local mesh's only state: reading and atomically writing it, and the lock
that lets one launcher at a time change it. Every process is recorded with its argv, its
STRATOS_* overrides, its port (chosen once, so restarts reuse it and clients keep finding it)
and its pid together with the pid's create time, so a pid the kernel has since reused is never
signalled.

mesh.json:
    {"version": 1, "processes": [{"name", "kind": "nats|index|storage|validator", "pid",
      "create_time", "state": "running|stopped", "address", "monitor_address", "argv", "env", "log",
      "data_dir"}, ...]}
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from stratos.common.errors import FailedPrecondition, NotFound
from stratos.common.files import private_dir, write_atomic
from stratos.sdk.home import Home
from stratos.sdk.meshplan import MESH_VERSION, ProcessRecord, sort_records


def load(home: Home) -> list[ProcessRecord] | None:
    """The recorded processes, or None when no mesh was ever started under `home`."""
    if not home.mesh_file.exists():
        return None
    try:
        doc = json.loads(home.mesh_file.read_text())
        if doc.get("version") != MESH_VERSION:
            raise FailedPrecondition(
                f"{home.mesh_file} has version {doc.get('version')!r}, expected {MESH_VERSION}"
            )
        return sort_records([ProcessRecord.from_dict(p) for p in doc["processes"]])
    except (ValueError, KeyError, TypeError):
        raise FailedPrecondition(f"{home.mesh_file} is not a valid mesh description") from None


def save(home: Home, records: list[ProcessRecord]) -> None:
    """Write mesh.json atomically (write, fsync, rename)."""
    doc = {"version": MESH_VERSION, "processes": [asdict(r) for r in sort_records(records)]}
    write_atomic(home.mesh_file, json.dumps(doc, indent=1).encode(), mode=0o600)


@contextmanager
def locked(home: Home) -> Iterator[None]:
    """One launcher at a time per home (two `up`s must not start two meshes)."""
    private_dir(home.run_dir)
    fd = os.open(home.run_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def require(home: Home) -> list[ProcessRecord]:
    """The recorded processes; a mesh that was never started is an error telling how to."""
    records = load(home)
    if records is None:
        raise FailedPrecondition(
            f"no mesh is running under {home.root}; start one with 'stratos dev up'"
        )
    return records


def find(records: list[ProcessRecord], name: str) -> ProcessRecord:
    """The record named `name`; an unknown name is an error listing the valid ones."""
    for r in records:
        if r.name == name:
            return r
    valid = ", ".join(r.name for r in records)
    raise NotFound(f"there is no process named {name!r} in the local mesh; valid names: {valid}")
