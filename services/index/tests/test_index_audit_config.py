"""The audit knobs: defaults, 0 disables, and a bad value names its variable."""

from __future__ import annotations

import pytest

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.index.config import IndexSettings


def test_audits_have_defaults_and_can_be_disabled(monkeypatch) -> None:
    s = load_settings(IndexSettings)
    assert (s.audit_interval_s, s.audits_per_round, s.audit_timeout_s) == (5.0, 4, 10.0)
    monkeypatch.setenv("STRATOS_AUDITS_PER_ROUND", "0")
    assert load_settings(IndexSettings).audits_per_round == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STRATOS_AUDIT_INTERVAL_S", "0"),
        ("STRATOS_AUDITS_PER_ROUND", "-1"),
        ("STRATOS_AUDIT_TIMEOUT_S", "ten"),
    ],
)
def test_a_bad_audit_setting_names_its_variable(monkeypatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings(IndexSettings)
