"""Settings of a validator node, read from `STRATOS_*` variables and validated at boot, so a bad
value stops the process with the variable's name instead of stalling consensus later."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from stratos.common.config import ServiceSettings


def parse_peers(value: str) -> tuple[str, ...]:
    """`"h1:7200, h2:7200"` → ("h1:7200", "h2:7200"); ValueError naming the bad entry."""
    out: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{part!r} is not host:port (a port from 1 to 65535)")
        if part not in out:
            out.append(part)
    return tuple(out)


class ConsensusSettings(ServiceSettings):
    """Knobs of one validator (or observer) process."""

    nats_url: str = Field(
        "", description="NATS URL(s) to publish committed blocks on; empty = do not publish."
    )
    data_dir: Path = Field(
        Path("data/consensus"), description="Directory of the block store (chain.sqlite)."
    )
    genesis_file: Path = Field(
        description="The genesis JSON every validator of the chain shares (required)."
    )
    validator_key_file: Path | None = Field(
        None,
        description="ed25519 PEM key, created on first start (default: DATA_DIR/validator.pem). "
        "A key outside the genesis validator set makes this node an observer.",
    )
    peers: str = Field(
        "", description="Comma-separated host:port of the other validators' gRPC servers."
    )
    timeout_propose_s: float = Field(
        1.0, gt=0, le=600, description="Seconds to wait for a round's proposal."
    )
    timeout_prevote_s: float = Field(
        0.5, gt=0, le=600, description="Seconds to wait for more prevotes after 2/3+ of any kind."
    )
    timeout_precommit_s: float = Field(
        0.5, gt=0, le=600, description="Seconds to wait for more precommits after 2/3+ of any."
    )
    timeout_delta_s: float = Field(
        0.5, gt=0, le=600, description="Seconds each timeout grows per round."
    )
    create_empty_blocks_interval_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="Seconds between blocks while the mempool is empty (a tx starts the next "
        "height at once).",
    )
    propose_delay_s: float = Field(
        0.2,
        ge=0,
        le=60,
        description="Seconds after a commit before the next height starts when txs are "
        "waiting, so a block under load carries more txs (fewer blocks, fewer fsyncs per tx).",
    )
    max_block_txs: int = Field(
        2000, ge=1, le=100_000, description="Most txs this node puts in a block it proposes."
    )
    mempool_max_txs: int = Field(10_000, ge=1, le=1_000_000, description="Pending txs at most.")
    gossip_interval_s: float = Field(
        0.5, gt=0, le=60, description="Seconds between re-sends of the current round's messages."
    )
    sync_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between asking peers whether they are ahead."
    )
    peer_queue_size: int = Field(
        1024, ge=16, le=1_000_000, description="Messages queued per peer; the oldest drop first."
    )

    @field_validator("peers")
    @classmethod
    def _peers(cls, value: str) -> str:
        parse_peers(value)
        return value

    @property
    def peer_list(self) -> tuple[str, ...]:
        return parse_peers(self.peers)

    @property
    def key_path(self) -> Path:
        return self.validator_key_file or self.data_dir / "validator.pem"
