"""Typed configuration from `STRATOS_*` environment variables, validated at boot.

Each service subclasses `ServiceSettings`; every field has a default, a unit in its name or
description, and limits. `load_settings` turns a bad value into one sentence naming the variable.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from stratos.common.errors import ConfigError


class ServiceSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(env_prefix="STRATOS_", extra="ignore", frozen=True)

    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated."
    )
    nats_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="copies JetStream keeps of every stream and KV bucket this service creates: "
        "1 for one NATS server, min(3, servers) for a cluster (the operator sets it); at most 5, "
        "JetStream's limit.",
    )
    grpc_address: str = Field(
        "127.0.0.1:0", description="host:port the gRPC server listens on (port 0 = any free port)."
    )
    advertise_address: str = Field(
        "", description="host:port other processes use to reach this one (default: bound address)."
    )
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    shutdown_grace_s: float = Field(5.0, ge=0, le=300, description="gRPC stop grace, seconds.")


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"])
            # a model-level check has no field: its message must name the variables itself
            problems.append(f"{prefix}{field}".upper() + f": {e['msg']}" if field else e["msg"])
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
