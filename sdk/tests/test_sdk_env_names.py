"""The local launcher hands each process only `STRATOS_*` variables that its settings read (a
process refuses to start while one it does not read is set), and the CLI refuses a misspelt
`STRATOS_*` variable with one sentence naming it and the closest real name."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

from devharness import assert_one_sentence

from stratos.common.config import env_names
from stratos.consensus.config import ConsensusSettings
from stratos.incentive.config import IncentiveSettings
from stratos.index.config import IndexSettings
from stratos.sdk.meshplan import INCENTIVE, INDEX, NATS, STORAGE, VALIDATOR, plan_processes
from stratos.storage.config import StorageSettings

READER = {
    INDEX: IndexSettings,
    STORAGE: StorageSettings,
    VALIDATOR: ConsensusSettings,
    INCENTIVE: IncentiveSettings,
}


def test_every_variable_the_launcher_hands_a_process_is_one_it_reads(tmp_path):
    ports = itertools.count(20_000)
    records = plan_processes(
        tmp_path,
        [],
        storage_nodes=4,
        capacity_bytes=2**30,
        port=lambda: next(ports),
        python=sys.executable,
        nats_binary=lambda: "nats-server",
        validators=4,
    )
    assert {r.kind for r in records} == {NATS, *READER}
    for r in records:
        names = {n for n in r.env if n.startswith("STRATOS_")}
        if r.kind == NATS:
            assert not names
            continue
        unread = names - env_names(READER[r.kind])
        assert not unread, f"{r.name} is handed {sorted(unread)}"


def test_the_cli_refuses_a_misspelt_variable_with_the_closest_real_name(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRATOS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.sdk", "wallet", "new"],
        cwd=tmp_path,
        env={**base, "HOME": str(tmp_path), "STRATOS_HOME_DIR": str(tmp_path / "h")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_sentence(
        proc.returncode,
        proc.stderr,
        "STRATOS_HOME_DIR (did you mean STRATOS_HOME?) is set, but no Stratos setting reads it",
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
