"""The operator's log lines: structlog JSON like every service's, kopf's and the Kubernetes
client's records included.

kopf and the official client log through stdlib `logging`, which `configure_logging` leaves as
bare messages. Here the root handler renders those records through the same structlog chain
(level, timestamp, trace IDs, JSON), so every line the operator prints is one JSON object with
`event`, `level`, `timestamp` and `service`. kopf's per-object records also name their object.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

from stratos.common.logging import configure_logging

SERVICE = "operator"


def _service(_logger: object, _name: str, event: MutableMapping[str, Any]) -> Any:
    """`service` on every line, also from threads that never saw the bound context var."""
    event.setdefault("service", SERVICE)
    return event


def _kopf_object(_logger: object, _name: str, event: MutableMapping[str, Any]) -> Any:
    """kopf's per-object records carry the object's reference (`k8s_ref`): keep it, as kopf's
    own JSON formatter does under `object`, so a line says which StratosCluster it is about."""
    record = event.get("_record")
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict):
        event["object"] = {k: v for k, v in ref.items() if v is not None}
    return event


def configure(level: str = "info") -> None:
    """The services' structlog JSON, then stdlib records (kopf, kubernetes, urllib3) through
    the same processors and renderer."""
    configure_logging(SERVICE, level)
    *enrich, render = structlog.get_config()["processors"]
    structlog.configure(processors=[*enrich, _service, render])
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            _kopf_object,
            *enrich,
            _service,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, render],
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
