"""The operator's settings, read from `STRATOS_*` variables and validated at start, so a bad
value stops the operator with the variable's name (the chart sets them from its values)."""

from __future__ import annotations

from pydantic import Field

from stratos.common.config import StratosSettings
from stratos.operator.builders.meta import DefaultImages

_IMAGES = DefaultImages()


class OperatorSettings(StratosSettings):
    """Knobs of the operator process (variable = STRATOS_ + field name, upper case); an empty
    variable counts as unset."""

    watch_namespace: str = Field(
        "", description="Namespace whose StratosClusters to manage; empty = every namespace."
    )
    heal_interval_s: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="Seconds between drift checks of each cluster (they also bring its status "
        "up to date with its pods).",
    )
    liveness_port: int = Field(8080, ge=1, le=65535, description="Port of GET /healthz.")
    metrics_port: int = Field(9090, ge=1, le=65535, description="Port of Prometheus /metrics.")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    index_address: str = Field(
        "",
        max_length=253,
        pattern=r"^$|^[A-Za-z0-9.\[\]:_-]+:[0-9]{1,5}$",
        description="host:port of the index whose DrainNode API drains storage nodes before a "
        "scale-down; empty = each cluster's own index Service (<name>-index.<namespace>.svc). "
        "Set it when the operator runs outside the cluster (the cluster test tier does).",
    )
    drain_timeout_s: float = Field(
        10.0, ge=0.5, le=120, description="Seconds to wait for one DrainNode answer."
    )
    image_nats: str = Field(_IMAGES.nats, min_length=1, description="Default NATS image.")
    image_index: str = Field(_IMAGES.index, min_length=1, description="Default index image.")
    image_storage: str = Field(_IMAGES.storage, min_length=1, description="Default storage image.")
    image_consensus: str = Field(
        _IMAGES.consensus, min_length=1, description="Default validator image."
    )
    image_incentive: str = Field(
        _IMAGES.incentive, min_length=1, description="Default incentive (settlement) image."
    )

    @property
    def default_images(self) -> DefaultImages:
        return DefaultImages(
            nats=self.image_nats,
            index=self.image_index,
            storage=self.image_storage,
            consensus=self.image_consensus,
            incentive=self.image_incentive,
        )
