"""Environment variables (issue 9): set to the empty string means unset, everywhere — the typed
settings of every service, the CLI's own variables and OpenTelemetry's — and a value of blanks
or a malformed one stops the process with a sentence naming the variable."""

from __future__ import annotations

import pytest

from stratos.common import env, tracing
from stratos.common.config import ServiceSettings, load_settings
from stratos.common.errors import ConfigError


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in ("STRATOS_NATS_URL", "STRATOS_GRPC_ADDRESS", "STRATOS_ADVERTISE_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "variable",
    ["STRATOS_NATS_URL", "STRATOS_GRPC_ADDRESS", "STRATOS_LOG_LEVEL", "STRATOS_SHUTDOWN_GRACE_S"],
)
def test_an_empty_setting_takes_its_default(monkeypatch, variable):
    monkeypatch.setenv(variable, "")
    field = variable.removeprefix("STRATOS_").lower()
    assert getattr(load_settings(ServiceSettings), field) == ServiceSettings.model_fields[
        field
    ].get_default(call_default_factory=True)


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        ("STRATOS_NATS_URL", "  ", "is set to blanks"),
        ("STRATOS_SHUTDOWN_GRACE_S", "\t", "is set to blanks"),
        ("STRATOS_NATS_URL", "localhost:4222", "is not a NATS URL"),
        ("STRATOS_NATS_URL", "nats://a:4222,,nats://b:4222", "is not a NATS URL"),
        ("STRATOS_NATS_URL", "nats://a:99999", "is not a NATS URL"),
        ("STRATOS_GRPC_ADDRESS", "0.0.0.0", "is not host:port"),
        ("STRATOS_ADVERTISE_ADDRESS", "storage-1:0", "ports are 1 to 65535"),
    ],
)
def test_a_blank_or_malformed_setting_names_its_variable(monkeypatch, variable, value, sentence):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as exc:
        load_settings(ServiceSettings)
    assert variable in str(exc.value) and sentence in str(exc.value)


def test_well_formed_addresses_are_kept(monkeypatch):
    monkeypatch.setenv("STRATOS_NATS_URL", "nats://a:4222, tls://b.example:4443")
    monkeypatch.setenv("STRATOS_GRPC_ADDRESS", "[::1]:0")
    monkeypatch.setenv("STRATOS_ADVERTISE_ADDRESS", "storage-1.mesh:7100")
    s = load_settings(ServiceSettings)
    assert (s.grpc_address, s.advertise_address) == ("[::1]:0", "storage-1.mesh:7100")


def test_address_lists_empty_means_unset_and_the_rest_is_checked(monkeypatch):
    monkeypatch.setenv("STRATOS_INDEX_ADDRESS", "")
    assert env.addresses("STRATOS_INDEX_ADDRESS") is None
    monkeypatch.setenv("STRATOS_INDEX_ADDRESS", "a:1, [::1]:2,unix:/run/index.sock")
    assert env.addresses("STRATOS_INDEX_ADDRESS") == ["a:1", "[::1]:2", "unix:/run/index.sock"]
    for bad, why in [(" ", "blanks"), ("a", "not host:port"), ("a:1,", "empty entry")]:
        monkeypatch.setenv("STRATOS_INDEX_ADDRESS", bad)
        with pytest.raises(ConfigError, match=f"STRATOS_INDEX_ADDRESS .*{why}"):
            env.addresses("STRATOS_INDEX_ADDRESS")


def test_opentelemetry_variables_follow_the_same_rules(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    assert tracing.otlp_endpoint() == "http://collector:4317"  # the empty one did not win
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "")
    assert tracing.otlp_endpoint() == "http://collector:4317"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.otlp_endpoint() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "jaeger"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "   "),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:port"),
    ],
)
def test_a_blank_or_malformed_opentelemetry_variable_names_itself(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        tracing.otlp_endpoint()
