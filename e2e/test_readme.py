"""The README, followed literally: every `stratos` line of its "Using the local mesh" block runs,
in order, against what `make run` starts (the default mesh), and exits 0. The commands are read
from README.md itself, so the README cannot drift from what works; only its placeholders
(<id>, <key>, <address>, <hash>, the sample files) are filled in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from e2e.conftest import BIN, random_file, same_bytes

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
_COMMENT = re.compile(r"\s{2,}#.*$")


def readme_commands() -> list[str]:
    """The command lines of the first code block under '## Using the local mesh'."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the local mesh", 1)[1]
    block = section.split("```", 2)[1]
    lines = [_COMMENT.sub("", line).strip() for line in block.splitlines()]
    return [line for line in lines if line]


def test_the_readme_block_is_what_we_think_it_is() -> None:
    cmds = readme_commands()
    assert cmds[0].startswith("stratos put ")
    assert all(c.startswith("stratos ") or c == "make stop" for c in cmds), cmds


def test_every_readme_command_works_as_written_on_the_default_mesh() -> None:
    with tempfile.TemporaryDirectory(prefix="stratos-readme-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, STRATOS_HOME=str(work / "home"))
        env.pop("STRATOS_INDEX_ADDRESS", None)
        env.pop("STRATOS_CONSENSUS_ADDRESS", None)

        def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
            proc = subprocess.run(
                [str(BIN / "stratos"), *args],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            assert proc.returncode == 0, (
                f"'stratos {' '.join(args)}' exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
            return proc

        run("dev", "up")  # what `make run` does
        run("dev", "demo")
        try:
            random_file(work / "video.mp4", 3 * MiB + 5, seed=1)
            random_file(work / "big.iso", 9 * MiB + 7, seed=2)
            last: dict = {}  # the last put's --json
            sent: dict = {}  # the last send's --json
            for line in readme_commands():
                if line == "make stop":
                    continue  # the teardown below, as `make stop` runs it
                if "<address>" in line:
                    bob = json.loads(run("wallet", "show", "bob", "--json").stdout)
                    line = line.replace("<address>", bob["address"])
                line = line.replace("stratos://<id>#<key>", last.get("cap", "?"))
                line = line.replace("<id>", last.get("id", "?"))
                line = line.replace("<hash>", sent.get("tx_hash", "?"))
                args = line.split()[1:]
                if args[0] == "put":
                    last = json.loads(run(*args, "--json").stdout)
                elif args[0] == "send":
                    sent = json.loads(run(*args, "--json").stdout)
                else:
                    run(*args)
            assert same_bytes(work / "video.mp4", work / "out.mp4")
        finally:
            subprocess.run(
                [str(BIN / "stratos"), "dev", "down"], env=env, capture_output=True, timeout=120
            )
