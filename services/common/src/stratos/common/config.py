"""Typed configuration from `STRATOS_*` environment variables, validated at boot.

Each service subclasses `ServiceSettings`; every field has a default, a unit in its name or
description, and limits. `load_settings` turns a bad value into one sentence naming the variable,
and refuses to start while a `STRATOS_*` variable is set that no setting in the project reads
(`stratos.common.variables`, where a new field's variable must be listed too). A variable set to
the empty string counts as unset (its default applies), and one set to blanks is refused, like
everywhere else (`stratos.common.env`).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stratos.common import variables
from stratos.common.env import host_port_problem
from stratos.common.errors import ConfigError
from stratos.common.nats_credentials import NatsLogin, parse_credentials, read_credentials

NATS_SCHEMES = ("nats", "tls", "ws", "wss")


class StratosSettings(BaseSettings):
    """How every Stratos process reads `STRATOS_*` variables: empty = unset, blanks refused."""

    model_config = SettingsConfigDict(
        env_prefix="STRATOS_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and value and not value.strip():
            raise ValueError("is set to blanks; unset it, or give it a value")
        return value


class ServiceSettings(StratosSettings):
    """Settings every service shares."""

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
    nats_nkey_file: str = Field(
        "",
        description="path of this process's NATS credentials file (its user's name and NKey "
        "seed, 0600; written by `stratos dev up` or mounted from the operator's Secret). Unset "
        "means anonymous, which every NATS server Stratos configures refuses.",
    )
    nats_tls_ca_file: str = Field(
        "",
        description="PEM file of the CA the NATS server's certificate must chain to (unset: "
        "the system's trust store).",
    )
    grpc_address: str = Field(
        "127.0.0.1:0", description="host:port the gRPC server listens on (port 0 = any free port)."
    )
    advertise_address: str = Field(
        "", description="host:port other processes use to reach this one (default: bound address)."
    )
    health_address: str = Field(
        "",
        description="host:port of a plaintext port serving only the gRPC health service, for "
        "Kubernetes probes, which speak no TLS (empty: none).",
    )
    tls_ca_file: str = Field("", description="the mesh CA's certificate (PEM); required.")
    tls_cert_file: str = Field(
        "", description="this process's certificate from the mesh CA (PEM); required."
    )
    tls_key_file: str = Field("", description="this process's private key (PEM, 0600); required.")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    shutdown_grace_s: float = Field(5.0, ge=0, le=300, description="gRPC stop grace, seconds.")

    @field_validator("grpc_address")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        if problem := host_port_problem(value, allow_port_zero=True):
            raise ValueError(problem)
        return value

    @field_validator("health_address")
    @classmethod
    def _health_address(cls, value: str) -> str:
        if value and (problem := host_port_problem(value, allow_port_zero=True)):
            raise ValueError(problem)
        return value

    @field_validator("advertise_address")
    @classmethod
    def _advertised_address(cls, value: str) -> str:
        if value and (problem := host_port_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("nats_nkey_file")
    @classmethod
    def _nkey_file(cls, value: str) -> str:
        if value and isinstance(problem := parse_credentials(value), str):
            raise ValueError(problem)
        return value

    @field_validator("nats_tls_ca_file")
    @classmethod
    def _tls_ca_file(cls, value: str) -> str:
        if value and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read the NATS CA file {value}")
        return value

    def nats_login(self) -> NatsLogin:
        """Who this process is on NATS (read from the files the settings name)."""
        return NatsLogin(
            credentials=read_credentials(self.nats_nkey_file) if self.nats_nkey_file else None,
            tls_ca_file=self.nats_tls_ca_file or None,
        )

    @field_validator("nats_url", check_fields=False)
    @classmethod
    def _nats_urls(cls, value: str) -> str:
        """Comma-separated nats:// (tls://, ws://, wss://) URLs; "" where a service allows it."""
        for url in (u.strip() for u in value.split(",")) if value else ():
            parts = urlsplit(url)
            try:
                port = parts.port
            except ValueError:
                port = -1
            if parts.scheme not in NATS_SCHEMES or not parts.hostname or port == -1:
                raise ValueError(f"{url!r} is not a NATS URL such as nats://127.0.0.1:4222")
        return value


S = TypeVar("S", bound=BaseSettings)


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables `cls` reads, one per field."""
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment; a bad value, or a `STRATOS_*` variable nothing
    reads, raises ConfigError naming the variables."""
    variables.refuse_unknown(also=env_names(cls))
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems, names = [], []
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"])
            # a model-level check has no field: its message must name the variables itself
            if field:
                names.append(f"{prefix}{field}".upper())
                problems.append(f"{names[-1]}: {e['msg']}")
            else:
                problems.append(e["msg"])
        raise ConfigError(
            "invalid configuration: " + "; ".join(problems), variables=names
        ) from None
