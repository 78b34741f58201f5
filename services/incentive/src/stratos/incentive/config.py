"""Settings of the incentive service, read from `STRATOS_*` variables and validated at boot."""

from __future__ import annotations

from pydantic import Field

from stratos.common.config import ServiceSettings
from stratos.common.limits import NODE_ID_PATTERN


class IncentiveSettings(ServiceSettings):
    """Knobs of one incentive replica."""

    node_id: str = Field(
        "incentive-1",
        pattern=NODE_ID_PATTERN,
        description="this replica's name in the admission list (an incentive node).",
    )
    identity_file: str = Field(
        "",
        description="the replica's ed25519 key (PEM): its public half is admitted as node_id "
        "and its address is a bonded meta node on the ledger, whose signature settles epochs.",
    )
    consensus_addresses: str = Field(
        ...,
        min_length=1,
        description="the validators' gRPC addresses, comma-separated host:port; required.",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between two looks at the chain's height."
    )
    report_fee_nstos: int = Field(
        1_000,
        ge=0,
        description="Fee (nstos) this replica pays for an epoch-report tx it submits; at least "
        "the chain's min_fee.",
    )
    submit_stagger_s: float = Field(
        3.0,
        ge=0,
        le=600,
        description="Seconds each replica waits per rank (its place among the report's "
        "signers) before submitting a report another replica may already have submitted.",
    )
    stream_max_age_s: float = Field(
        7 * 24 * 3600.0,
        ge=3600,
        description="How long receipts stay in the traffic stream: longer than any epoch may "
        "wait for its quorum of signatures.",
    )

    @property
    def validators(self) -> list[str]:
        return [a.strip() for a in self.consensus_addresses.split(",") if a.strip()]
