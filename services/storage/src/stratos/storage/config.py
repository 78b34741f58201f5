"""The storage node's settings, read from `STRATOS_*` variables and validated at boot, so a bad
value stops the node with one sentence naming the variable instead of failing mid-write."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from pydantic import Field

from stratos.common.config import ServiceSettings
from stratos.common.limits import MAX_CHUNK_BYTES, NODE_ID_PATTERN

MIB = 1024 * 1024
GIB = 1024 * MIB
EIB = 1 << 60


def default_node_id() -> str:
    """The host name made into a valid subject token (a FQDN's dots would split the subject)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64]
    return name or "storage"


class StorageSettings(ServiceSettings):
    """Settings of one storage node (environment variable = STRATOS_ + field name, upper case)."""

    node_id: str = Field(
        default_factory=default_node_id,
        pattern=NODE_ID_PATTERN,
        description="Stable, unique name of this node; letters, digits, '_' and '-', at most 64 "
        "characters (default: the host name).",
    )
    data_dir: Path = Field(
        Path("./stratos-data"),
        description="Directory holding chunks/, tmp/, quarantine/ and identity.pem.",
    )
    node_key_file: Path | None = Field(
        None,
        description="The node's ed25519 key (PEM) whose public half the admission list gives "
        "node_id; it must exist (the operator mounts it from a Secret). Unset: "
        "DATA_DIR/identity.pem, made on first start (the local launcher admits it). Not "
        "STRATOS_IDENTITY_FILE: that is the index's, and a shell or harness may hold both.",
    )
    capacity_bytes: int = Field(
        10 * GIB,
        ge=MIB,
        le=EIB,  # heartbeats carry it as uint64; no disk comes near
        description="Bytes of chunk data this node accepts, 1 MiB to 1 EiB (default 10 GiB).",
    )
    zone: str = Field(
        "zone-a",
        min_length=1,
        max_length=64,
        description="Failure zone; placement spreads the copies of a chunk across zones.",
    )
    heartbeat_interval_s: float = Field(
        2.0, ge=0.1, le=60, description="Seconds between heartbeats, 0.1 to 60."
    )
    max_chunk_bytes: int = Field(
        MAX_CHUNK_BYTES,
        ge=1,
        le=4 * GIB,
        description="Largest chunk accepted by PutChunk, in bytes (default: a whole 64 MiB "
        "segment with its 16-byte tag, the largest chunk a client makes).",
    )
    max_active_puts: int = Field(
        4,
        ge=1,
        le=256,
        description="Uploads processed at once; more wait their turn. Each active upload holds "
        "about 3 MiB of memory, and the disk is saturated with a few.",
    )
    repair_rate_bytes_s: int = Field(
        0,
        ge=0,
        le=1 << 40,
        description="Bytes per second all repair transfers of this node share while no client "
        "is uploading or reading here (a token bucket), 0 = unlimited: an idle node repairs as "
        "fast as its disk goes.",
    )
    repair_busy_rate_bytes_s: int = Field(
        8 * MIB,
        ge=64 * 1024,
        le=1 << 40,
        description="Bytes per second repair may use while clients upload or read on this node "
        "(at least 64 KiB/s), so foreground traffic keeps most of the disk and network.",
    )
    repair_concurrency: int = Field(
        2, ge=1, le=32, description="Repair jobs this node executes at once, 1 to 32."
    )
    repair_ack_wait_s: float = Field(
        30.0,
        ge=1,
        le=600,
        description="Seconds a repair job may go without a sign of progress before JetStream "
        "redelivers it (the node reports progress during long transfers), 1 to 600.",
    )
    repair_max_deliver: int = Field(
        6,
        ge=1,
        le=100,
        description="Attempts at one repair job before it is given up and reported failed.",
    )
