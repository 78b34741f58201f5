"""Settings of the index, read from `STRATOS_*` variables and validated at boot, so a bad value
stops the process with the variable's name instead of misbehaving later."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from stratos.common.config import ServiceSettings
from stratos.common.limits import (
    MAX_REPLICAS,
    MAX_SEGMENT_BYTES,
    MIN_SEGMENT_BYTES,
    NODE_ID_PATTERN,
)

KIB = 1024
MIB = 1024 * KIB


class IndexSettings(ServiceSettings):
    """Knobs of the index service."""

    node_id: str = Field(
        "index-1",
        pattern=NODE_ID_PATTERN,
        description="this index replica's name in the admission list (a meta node).",
    )
    identity_file: str = Field(
        "",
        description="the replica's ed25519 key (PEM), whose public half the admission list "
        "gives node_id; required: it signs repair jobs and events.",
    )

    consensus_addresses: str = Field(
        "",
        description="the ledger's validators (comma-separated host:port): the index checks and "
        "reserves a payer's ozone before it signs its tickets; empty = a mesh without a ledger, "
        "where traffic is free.",
    )

    @property
    def validators(self) -> list[str]:
        return [a.strip() for a in self.consensus_addresses.split(",") if a.strip()]

    suspect_after_s: float = Field(
        6.0,
        gt=0,
        le=3600,
        description="Seconds without a heartbeat after which a node is SUSPECT "
        "(no new placements go to it).",
    )
    # Declared after suspect_after_s on purpose: the validator below reads it.
    lost_after_s: float = Field(
        30.0,
        gt=0,
        le=86400,
        description="Seconds without a heartbeat after which a node is LOST; "
        "must be greater than STRATOS_SUSPECT_AFTER_S.",
    )
    segment_size_bytes: int = Field(
        4 * MIB,
        ge=MIN_SEGMENT_BYTES,
        le=MAX_SEGMENT_BYTES,
        description="Plaintext bytes per segment the index suggests to writers (64 KiB to 64 MiB).",
    )
    nats_connect_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds to keep trying the first NATS connection before exiting.",
    )
    max_replicas: int = Field(
        16,
        ge=1,
        le=MAX_REPLICAS,
        description="Largest redundancy (copies per chunk) a write may ask for.",
    )
    repair_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Seconds between two repair planning rounds (repair, drain, rebalance).",
    )
    repair_plan_rate_bytes_s: int = Field(
        1024 * MIB,
        ge=64 * KIB,
        le=1 << 40,
        description="Bytes per second of copies and re-encodes the index may plan across the "
        "mesh (64 KiB/s to 1 TiB/s). Storage nodes pace the work themselves and yield to client "
        "traffic (STRATOS_REPAIR_BUSY_RATE_BYTES_S), so this only bounds how much is queued.",
    )
    repair_max_outstanding: int = Field(
        512,
        ge=1,
        le=100_000,
        description="Repair jobs published and not yet answered, at most.",
    )
    repair_batch_from: int = Field(
        256,
        ge=1,
        le=100_000,
        description="A repair round publishing at least this many jobs sends them in batches "
        "per storage node (up to 128 jobs per message, signed once) "
        "instead of one message each.",
    )
    repair_sweep_files_per_round: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Files a repair round plans from the sweep queue, besides the files that "
        "changed: the sweep visits every file when a node enters service (rebalancing) and every "
        "STRATOS_REPAIR_SWEEP_INTERVAL_S, so its cost per round stays bounded however many files "
        "are stored.",
    )
    repair_sweep_interval_s: float = Field(
        3600.0,
        gt=0,
        le=7 * 86400,
        description="Seconds between two safety-net sweeps that plan every file once, a batch "
        "per round (repair reacts to changes in between).",
    )
    repair_job_timeout_s: float = Field(
        60.0,
        ge=1,
        le=86400,
        description="Seconds after which an unanswered repair job is planned again (a job still "
        "queued is then recognised by its ID and not stored twice).",
    )
    audit_interval_s: float = Field(
        5.0,
        gt=0,
        le=86400,
        description="Seconds between two audit rounds (challenges of stored chunk copies).",
    )
    audits_per_round: int = Field(
        4,
        ge=0,
        le=1000,
        description="Chunk copies challenged per audit round, on distinct nodes where possible "
        "(0 disables audits).",
    )
    audit_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds a node may take to answer one audit challenge; reading a chunk to "
        "learn the right answer gets this plus one second per MiB.",
    )
    gc_interval_s: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="Seconds between two garbage-collection rounds (every live node's chunks "
        "compared with the manifests and reservations).",
    )
    gc_chunks_per_s: float = Field(
        5000.0,
        gt=0,
        le=10_000_000,
        description="Chunk copies GC may list per second on average: a round that listed more "
        "than STRATOS_GC_INTERVAL_S allows waits longer before the next, so the safety net costs "
        "a bounded share of a core however many chunks are stored.",
    )
    gc_grace_s: float = Field(
        6 * 3600.0,
        gt=0,
        le=30 * 86400,
        description="Seconds an unreferenced chunk is kept after it was stored, and how long "
        "PlaceChunks reserves a chunk for its upload; an upload must commit within it.",
    )
    expiry_interval_s: float = Field(
        10.0,
        gt=0,
        le=86400,
        description="Seconds between two sweeps that remove expired files (they are hidden from "
        "listings at once; the sweep deletes them and collects their chunks).",
    )

    # A field validator rather than a model validator, so the error names STRATOS_LOST_AFTER_S.
    @field_validator("lost_after_s")
    @classmethod
    def _lost_after_suspect(cls, value: float, info: ValidationInfo) -> float:
        suspect = info.data.get("suspect_after_s")
        if suspect is not None and value <= suspect:
            raise ValueError(
                f"must be greater than STRATOS_SUSPECT_AFTER_S ({suspect:g} s), got {value:g} s"
            )
        return value
