"""A `STRATOS_*` variable that nothing reads stops the process with one sentence naming it (and the
closest real name), instead of leaving a default silently in force; and the list of names that
the check trusts (`stratos.common.variables`) is exactly what the project reads."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import Field

from stratos.common import env, variables
from stratos.common.admission_source import AdmissionSettings
from stratos.common.config import ServiceSettings, StratosSettings, env_names, load_settings
from stratos.common.errors import ConfigError, UnknownVariable
from stratos.consensus.config import ConsensusSettings
from stratos.incentive.config import IncentiveSettings
from stratos.index.config import IndexSettings
from stratos.operator.config import OperatorSettings
from stratos.storage.config import StorageSettings

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = {
    "every service": (ServiceSettings, StratosSettings),
    "storage": (StorageSettings, ServiceSettings),
    "index": (IndexSettings, ServiceSettings),
    "consensus": (ConsensusSettings, ServiceSettings),
    "incentive": (IncentiveSettings, ServiceSettings),
    "operator": (OperatorSettings, StratosSettings),
    "storage and index (admission)": (AdmissionSettings, StratosSettings),
}


@pytest.fixture
def clean_env(monkeypatch):
    """No STRATOS_* variable from the shell running the tests."""
    for name in list(os.environ):
        if name.upper().startswith("STRATOS_"):
            monkeypatch.delenv(name)
    return monkeypatch


# -- the list is the project's -----------------------------------------------------------------


@pytest.mark.parametrize("group", sorted(SETTINGS))
def test_the_list_names_exactly_the_fields_each_settings_class_adds(group):
    cls, parent = SETTINGS[group]
    assert variables.READ_BY[group] == env_names(cls) - env_names(parent)


def test_every_settings_class_reads_only_listed_names():
    for cls, _ in SETTINGS.values():
        assert env_names(cls) <= variables.KNOWN, cls.__name__


def _src_files() -> list[Path]:
    return [p for p in ROOT.glob("*/**/src/stratos/**/*.py") if ".venv" not in p.parts]


def test_the_cli_group_is_what_src_reads_through_stratos_common_env():
    read = re.compile(r"env\.(?:value|addresses)\(\s*\"(STRATOS_\w+)\"")
    found = {m for p in _src_files() for m in read.findall(p.read_text())}
    assert found == variables.READ_BY["the stratos CLI"]


def test_no_shipped_code_reads_a_test_switch():
    """Test harnesses steer a process through their own entry points (the consensus tests'
    `faulty_validator.py`), never through a STRATOS_TEST_* variable the service would read."""
    files = _src_files()
    assert len(files) > 100, "the glob no longer finds the services' sources"
    readers = [
        str(p.relative_to(ROOT))
        for p in files
        if variables.TEST_PREFIX in p.read_text() and p.name != "variables.py"
    ]
    assert readers == []


def test_the_tooling_group_is_what_ci_the_cluster_tier_and_the_tool_builds_use():
    files = [
        ROOT / ".ci" / "run",
        *(ROOT / "hack").rglob("*.sh"),
        *(ROOT / "cluster").rglob("*.py"),
    ]
    used = {m for p in files for m in re.findall(r"STRATOS_\w+", p.read_text())}
    tooling = variables.READ_BY["the build and test tooling"]
    assert tooling <= used, "listed but no longer used"
    assert used <= variables.KNOWN, "used by the tooling but not listed"


# -- the check -----------------------------------------------------------------------------


def test_a_misspelt_variable_stops_loading_with_the_closest_real_name(clean_env):
    clean_env.setenv("STRATOS_NATS_URLS", "nats://127.0.0.1:4222")
    with pytest.raises(UnknownVariable) as info:
        load_settings(StorageSettings)
    assert str(info.value) == (
        "STRATOS_NATS_URLS (did you mean STRATOS_NATS_URL?) is set, but no Stratos setting "
        "reads it; correct or unset it"
    )
    assert info.value.variables == ("STRATOS_NATS_URLS",)
    assert isinstance(info.value, ConfigError)


def test_every_unknown_name_is_named_once_and_unlike_names_get_no_suggestion(clean_env):
    clean_env.setenv("STRATOS_FROBNICATE", "1")
    clean_env.setenv("STRATOS_CAPACITY_BYTE", "10")
    with pytest.raises(UnknownVariable) as info:
        load_settings(IndexSettings)
    assert str(info.value) == (
        "STRATOS_CAPACITY_BYTE (did you mean STRATOS_CAPACITY_BYTES?) and STRATOS_FROBNICATE "
        "are set, but no Stratos setting reads them; correct or unset them"
    )


def test_another_services_variable_in_a_shared_environment_is_not_unknown(clean_env):
    """The launcher and a pod give one environment to processes that each read part of it."""
    clean_env.setenv("STRATOS_SUSPECT_AFTER_S", "2")  # the index's
    clean_env.setenv("STRATOS_HOME", "/tmp/h")  # the CLI's
    clean_env.setenv("STRATOS_REQUIRE_ALL_TIERS", "1")  # CI's
    clean_env.setenv("STRATOS_TEST_ANYTHING", "x")  # reserved for test harnesses
    assert load_settings(StorageSettings).capacity_bytes > 0


def test_a_settings_class_outside_the_list_may_read_its_own_fields(clean_env):
    class _Plugin(ServiceSettings):
        widget_count: int = Field(1, ge=1)

    clean_env.setenv("STRATOS_WIDGET_COUNT", "3")
    assert load_settings(_Plugin).widget_count == 3
    with pytest.raises(UnknownVariable):
        load_settings(StorageSettings)


def test_reading_a_cli_variable_refuses_an_unknown_one_too(clean_env):
    clean_env.setenv("STRATOS_HOMEDIR", "/tmp/h")
    with pytest.raises(UnknownVariable, match=r"^STRATOS_HOMEDIR \(did you mean STRATOS_HOME\?\)"):
        env.value("STRATOS_HOME")
    assert env.value("OTEL_SERVICE_NAME") is None  # not a Stratos read: not its business


def test_a_bad_value_names_its_variable_in_the_error_fields(clean_env):
    clean_env.setenv("STRATOS_CAPACITY_BYTES", "lots")
    clean_env.setenv("STRATOS_ZONE", "  ")
    with pytest.raises(ConfigError) as info:
        load_settings(StorageSettings)
    assert set(info.value.variables) == {"STRATOS_CAPACITY_BYTES", "STRATOS_ZONE"}
