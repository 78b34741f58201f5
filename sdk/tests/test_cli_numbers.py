"""Numbers on the command line (issue 9): every integer and float any `stratos` command takes is
range-checked while the command line is parsed — one `error:` sentence naming the parameter and
the allowed range, exit 1 — never a traceback, an overflow deep in a protobuf or a wait without
end.

The first test finds the numeric parameters itself, so a command added later is covered too."""

from __future__ import annotations

import re

import pytest
import typer
from devharness import assert_one_sentence, run_cli

from stratos.common.limits import MAX_REPLICAS
from stratos.sdk import localmesh, render
from stratos.sdk.cli.app import app

ADDR = "ab" * 20
RANGE_ERROR = re.compile(r"^error: (--[a-z-]+|[A-Z_]+) must be between \S+ and \S+, not \S+$")


@pytest.fixture(autouse=True)
def no_process_starts(monkeypatch):
    """A value that slipped through must fail the test, not start a mesh nobody stops."""

    def refuse(rec):
        raise AssertionError(f"the command ran and started {rec.name}")

    monkeypatch.setattr(localmesh, "spawn", refuse)


def numeric_params() -> list[tuple[list[str], object]]:
    """(command path, parameter) for every int and float parameter of every command."""
    found = []

    def walk(cmd, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
            return
        for p in cmd.params:
            if p.type_descriptor.annotation in (int, float):
                found.append((path, p))

    walk(typer.main.get_command(app), [])
    return found


def argv_with(path: list[str], param, value: str, filler: str) -> list[str]:
    """A command line for `path` giving `param` the `value` and every other required
    parameter `filler` (an existing file, which also serves as a name)."""
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    options, positional = [], []
    for p in cmd.params:
        given = value if p.name == param.name else filler if p.required else None
        if given is None:
            continue
        if p.param_type_name == "argument":
            positional.append(given)
        else:
            flag = next(o for o in p.opts if o.startswith("--"))
            options.append(f"{flag}={given}")
    return [*path, *options, "--", *positional]


def test_the_commands_have_the_numeric_parameters_this_file_expects():
    names = {(" ".join(path), p.name) for path, p in numeric_params()}
    assert {
        ("put", "replicas"),
        ("chain block", "height"),
        ("dev up", "storage_nodes"),
        ("dev up", "validators"),
        ("dev up", "wait"),
        ("dev add-storage", "count"),
        ("dev add-storage", "wait"),
        ("dev start", "wait"),
        ("dev logs", "lines"),
        ("node drain", "timeout"),
    } <= names


@pytest.mark.parametrize(
    ("path", "param"),
    numeric_params(),
    ids=[f"{' '.join(path)} {p.name}" for path, p in numeric_params()],
)
def test_every_numeric_parameter_refuses_what_is_out_of_range(home, capsys, tmp_path, path, param):
    filler = tmp_path / "x"
    filler.write_bytes(b"x")
    is_int = param.type_descriptor.annotation is int
    bad = ["99999999999999999999", "-99999999999999999999"] if is_int else ["nan", "inf", "-1e400"]
    for value in bad:
        code, out, err = run_cli(capsys, *argv_with(path, param, value, str(filler)))
        assert_one_sentence(code, err)
        assert out == "" and RANGE_ERROR.match(err.strip()), err
        if is_int:
            assert err.strip().endswith(f"not {int(value)}"), err


U64 = "18446744073709551615"


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["chain", "block", "99999999999999999999"],
            f"HEIGHT must be between 0 and {U64}, not 9999",
        ),
        (["chain", "block", "--", "-1"], f"HEIGHT must be between 0 and {U64}, not -1"),
        (["put", "FILE", "--replicas", "0"], "--replicas must be between 1 and 64, not 0"),
        (["put", "FILE", "-r", "65"], "--replicas must be between 1 and 64, not 65"),
        (["dev", "up", "--storage-nodes", "0"], "--storage-nodes must be between 1 and 64, not 0"),
        (["dev", "up", "--validators", "65"], "--validators must be between 0 and 64, not 65"),
        (["dev", "up", "--wait", "nan"], "--wait must be between 0 and 86400, not nan"),
        (["dev", "up", "--wait", "1e400"], "--wait must be between 0 and 86400, not inf"),
        (["dev", "add-storage", "--count", "17"], "--count must be between 1 and 16, not 17"),
        (["dev", "start", "index", "--wait=-1"], "--wait must be between 0 and 86400, not -1.0"),
        (["dev", "logs", "index", "-n", "0"], "--lines must be between 1 and 100000, not 0"),
        (["node", "drain", "x", "--timeout", "inf"], "--timeout must be between 0 and 604800"),
    ],
)
def test_the_sentence_names_the_parameter_and_its_range(home, capsys, tmp_path, argv, sentence):
    (tmp_path / "f").write_bytes(b"x")
    argv = [str(tmp_path / "f") if a == "FILE" else a for a in argv]
    code, _out, err = run_cli(capsys, *argv)
    assert_one_sentence(code, err, sentence)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["send", ADDR, "99999999999999999999999"], "more than the ledger can hold"),
        (["send", ADDR, "1", "--fee", "18446744073.709551616"], "more than the ledger can hold"),
        (["send", "--", ADDR, "-1"], "not an amount of STOS"),
        (["put", "FILE", "--ttl", "99999999999999999999d"], "longer than 100 years"),
        (["dev", "up", "--capacity", "1KiB"], "between 1 MiB and 1 EiB, not 1024 bytes"),
        (["dev", "up", "--capacity", "99999999TiB"], "between 1 MiB and 1 EiB"),
        (["dev", "add-storage", "--capacity", "2000000TiB"], "between 1 MiB and 1 EiB"),
    ],
)
def test_amounts_sizes_and_durations_out_of_range_are_one_sentence(
    home, capsys, tmp_path, argv, fragment
):
    (tmp_path / "f").write_bytes(b"x")
    argv = [str(tmp_path / "f") if a == "FILE" else a for a in argv]
    code, _out, err = run_cli(capsys, *argv)
    assert_one_sentence(code, err, fragment)


@pytest.mark.parametrize("unix_ms", [2**63 - 1, -(2**63), 10**20])
def test_a_date_no_calendar_holds_is_shown_as_its_number(unix_ms):
    assert render.format_time(unix_ms) == f"unix_ms {unix_ms}"


def test_the_cli_refuses_replicas_by_the_sdk_s_limit_and_no_other(home, capsys, tmp_path):
    """The SDK alone checks --replicas; the command says its sentence. At the limit the put
    passes every check and only then finds no mesh to talk to."""
    (tmp_path / "f").write_bytes(b"x")
    code, _out, err = run_cli(capsys, "put", str(tmp_path / "f"), "-r", str(MAX_REPLICAS + 1))
    assert_one_sentence(
        code, err, f"--replicas must be between 1 and {MAX_REPLICAS}, not {MAX_REPLICAS + 1}"
    )
    code, _out, err = run_cli(capsys, "put", str(tmp_path / "f"), "-r", str(MAX_REPLICAS))
    assert_one_sentence(code, err, "no mesh is running")
