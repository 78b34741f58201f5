"""Where a service's admission list comes from: a signed file, reloaded when it changes.

Every service that believes a signed message holds the mesh's current admission list
(`stratos.common.admission`). The list reaches it as a file (`STRATOS_ADMISSION_FILE`): the local
launcher writes it under STRATOS_HOME, and on Kubernetes the operator writes it into a ConfigMap
that the kubelet refreshes in every pod. Only a list signed by the pinned admin key
(`STRATOS_ADMIN_KEY`) for this mesh (`STRATOS_MESH_ID`) is believed.

`AdmissionSource.current()` is what a consumer calls on every check: it costs O(1) — at most one
`stat` per `check_every_s` — and reads the file again only when its size, inode or mtime changed.
A newer version replaces the held list; an older one (a replayed file), a malformed or a
wrongly signed one is refused, logged once, and the held list stays. At start a missing or bad
list is a ConfigError: a node that cannot tell who is in its mesh must not run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, field_validator

from stratos.common.admission import Admission, AdmissionRefused, open_list
from stratos.common.config import StratosSettings, load_settings
from stratos.common.errors import ConfigError
from stratos.common.logging import get_logger

log = get_logger(__name__)

CHECK_EVERY_S = 1.0


class AdmissionSettings(StratosSettings):
    """Which mesh this process belongs to and who may say who is in it."""

    mesh_id: str = Field(
        ..., min_length=1, max_length=64, description="the mesh's name, as its admission list says"
    )
    admin_key: str = Field(
        ...,
        description="the mesh admin's ed25519 public key, 64 hex digits: an admission list not "
        "signed by it is refused",
    )
    admission_file: Path = Field(..., description="the signed admission list (a file)")

    @field_validator("admin_key")
    @classmethod
    def _hex_key(cls, value: str) -> str:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ValueError("is not an ed25519 public key (64 hex digits)")
        return value.lower()

    @property
    def admin_key_bytes(self) -> bytes:
        return bytes.fromhex(self.admin_key)


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class AdmissionSource:
    """The newest admission list read from `path`; see the module docstring."""

    def __init__(
        self,
        path: Path,
        admin_key: bytes,
        mesh_id: str,
        *,
        check_every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.admin_key, self.mesh_id = path, admin_key, mesh_id
        self.check_every_s, self._clock = check_every_s, clock
        self.refused = 0  # lists seen and not taken (older, malformed, wrongly signed)
        try:
            st = path.stat()
            self._held = open_list(path.read_bytes(), admin_key, mesh_id)
        except OSError as err:
            raise ConfigError(
                f"cannot read the admission list {path} (STRATOS_ADMISSION_FILE): "
                f"{err.strerror or err}"
            ) from None
        except AdmissionRefused as err:
            raise ConfigError(f"{err} ({path}, STRATOS_ADMISSION_FILE)") from None
        self._seen: tuple[int, int, int] | None = _signature(st)
        self._checked = clock()
        log.info("admission_list_loaded", version=self._held.version, nodes=len(self._held))

    @classmethod
    def from_env(cls) -> AdmissionSource:
        s = load_settings(AdmissionSettings)
        return cls(s.admission_file, s.admin_key_bytes, s.mesh_id)

    def current(self) -> Admission:
        """The held list, after looking (at most once per `check_every_s`) for a newer one."""
        now = self._clock()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._look()
        return self._held

    def _look(self) -> None:
        try:
            st = self.path.stat()
        except OSError as err:
            if self._seen is not None:  # logged once, until the file is back
                self._refuse("admission_list_unreadable", error=err.strerror or str(err))
            self._seen = None
            return
        if _signature(st) == self._seen:
            return
        self._seen = _signature(st)
        try:
            found = open_list(self.path.read_bytes(), self.admin_key, self.mesh_id)
        except OSError as err:  # replaced while being read: the next look reads the new one
            self._seen = None
            log.debug("admission_list_changing", error=err.strerror or str(err))
            return
        except AdmissionRefused as err:
            self._refuse("admission_list_refused", error=str(err))
            return
        if found.version == self._held.version:
            return  # rewritten with the same content (a kubelet refresh, a touched file)
        if not found.replaces(self._held):
            self._refuse("admission_list_older", version=found.version)
            return
        log.info(
            "admission_list_replaced",
            version=found.version,
            was=self._held.version,
            nodes=len(found),
        )
        self._held = found

    def _refuse(self, event: str, **fields: object) -> None:
        """Called once per file content seen: a refused file stays on disk and is only looked
        at again when it changes, so this logs once, not every second."""
        self.refused += 1
        log.warning(event, path=str(self.path), held=self._held.version, **fields)


def self_problem(admission: Admission, node_id: str, public_key: bytes, role: int) -> str | None:
    """Why this node's own messages will be dropped by its peers (it is not admitted under its
    name, role and key), or None. A service logs it at start: it still serves what needs no
    admission, and is believed once the admin lists it."""
    member = admission.member(node_id)
    if member is None:
        return f"{node_id} is not in the admission list (version {admission.version})"
    if member.role != role:
        return f"{node_id} is admitted as a {member.role_name} node, not as this role"
    if member.public_key != public_key:
        return f"{node_id} is admitted with another key than this node's identity"
    return None
