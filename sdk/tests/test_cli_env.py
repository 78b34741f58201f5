"""The CLI's environment variables (issue 9): `STRATOS_HOME=` (empty) is ~/.stratos — it used to
be the current directory, where `stratos` then wrote keys — and so is every other variable set
to the empty string: unset. Blanks or a malformed value are one sentence naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from devharness import assert_one_sentence, run_cli

ADDR = "ab" * 20


def stratos(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRATOS_")}
    return subprocess.run(
        [sys.executable, "-m", "stratos.sdk", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_empty_stratos_home_is_the_default_not_the_current_directory(tmp_path):
    user, work = tmp_path / "user", tmp_path / "work"
    user.mkdir()
    work.mkdir()
    proc = stratos("wallet", "new", cwd=work, HOME=str(user), STRATOS_HOME="")
    assert proc.returncode == 0, proc.stderr
    assert (user / ".stratos" / "keys" / "default.pem").is_file()
    assert list(work.iterdir()) == []  # nothing written where the command ran


@pytest.mark.parametrize("value", [" ", "\t\n"])
def test_a_blank_stratos_home_is_refused_before_anything_is_written(tmp_path, value):
    proc = stratos("wallet", "new", cwd=tmp_path, HOME=str(tmp_path), STRATOS_HOME=value)
    assert_one_sentence(proc.returncode, proc.stderr, "STRATOS_HOME is set to blanks")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "args", "unset_sentence"),
    [
        ("STRATOS_INDEX_ADDRESS", ["ls"], "no mesh is running"),
        ("STRATOS_CONSENSUS_ADDRESS", ["balance", ADDR], "no mesh is running"),
        ("STRATOS_CONSENSUS_ADDRESS", ["chain", "status"], "no mesh is running"),
    ],
)
def test_an_address_variable_that_is_empty_is_unset_and_a_bad_one_is_named(
    home, capsys, monkeypatch, variable, args, unset_sentence
):
    monkeypatch.setenv(variable, "")
    code, _out, err = run_cli(capsys, *args)
    assert_one_sentence(code, err, unset_sentence)
    for bad, why in [("  ", "is set to blanks"), ("localhost", "'localhost' is not host:port")]:
        monkeypatch.setenv(variable, bad)
        code, _out, err = run_cli(capsys, *args)
        assert_one_sentence(code, err, variable, why)
    monkeypatch.setenv(variable, "127.0.0.1:1,,127.0.0.1:2")
    code, _out, err = run_cli(capsys, *args)
    assert_one_sentence(code, err, variable, "an empty entry")


def test_the_log_level_variable_is_checked(home, capsys, monkeypatch):
    monkeypatch.setenv("STRATOS_LOG_LEVEL", "loud")
    code, _out, err = run_cli(capsys, "ls")
    assert_one_sentence(code, err, "STRATOS_LOG_LEVEL must be one of debug, info, warning, error")
    monkeypatch.setenv("STRATOS_LOG_LEVEL", "")
    code, _out, err = run_cli(capsys, "ls")
    assert_one_sentence(code, err, "no mesh is running")  # empty: the default level


def test_the_debug_variable_empty_is_off_and_blanks_are_refused(home, capsys, monkeypatch):
    monkeypatch.setenv("STRATOS_DEBUG", "")
    code, _out, err = run_cli(capsys, "stat", "zz")
    assert_one_sentence(code, err, "not a file ID")  # no traceback: debugging is off
    monkeypatch.setenv("STRATOS_DEBUG", " ")
    code, _out, err = run_cli(capsys, "stat", "zz")
    assert_one_sentence(code, err, "STRATOS_DEBUG is set to blanks")
