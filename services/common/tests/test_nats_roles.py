"""The NATS permission table: every subject, stream and bucket the code names is in it, each
role may do exactly its work, and the users render into a server config and credentials files
that a process reads back (or refuses with one sentence)."""

from __future__ import annotations

import ast
import os
import re
import stat
from pathlib import Path

import pytest

from stratos.common import nats_subjects, natsutil
from stratos.common.config import ServiceSettings, load_settings
from stratos.common.errors import ConfigError
from stratos.common.nats_auth import authorization_block, ensure_user, new_user
from stratos.common.nats_credentials import read_credentials
from stratos.common.nats_roles import (
    INDEX_BUCKETS,
    Role,
    matches,
    may_publish,
    may_subscribe,
    permissions,
    repair_durable,
)

ROOT = Path(__file__).resolve().parents[3]
NAMED = re.compile(r"_(SUBJECT|WILDCARD|BUCKET|STREAM)$")
WORKERS = [
    permissions(Role.INDEX),
    permissions(Role.STORAGE, "x"),
    permissions(Role.VALIDATOR, "1"),
    permissions(Role.INCENTIVE, "x"),
]
# The streams and buckets the incentive service owns; every other one is the index's.
INCENTIVE_OWNS = {nats_subjects.TRAFFIC_STREAM, nats_subjects.REPORTS_BUCKET}


def _constants() -> list[tuple[str, str, str]]:
    """(file, name, value) of every module-level NATS name constant in the project's code."""
    found = []
    for src in [*ROOT.glob("services/*/src"), ROOT / "sdk/src", ROOT / "operator/src"]:
        for path in src.rglob("*.py"):
            for node in ast.parse(path.read_text()).body:
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and NAMED.search(node.targets[0].id)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                ):
                    found.append(
                        (str(path.relative_to(ROOT)), node.targets[0].id, node.value.value)
                    )
    return found


CONSTANTS = _constants()


def test_the_scan_finds_the_subjects_the_services_use():
    names = {name for _, name, _ in CONSTANTS}
    assert {"HEARTBEAT_SUBJECT", "REPAIR_JOB_SUBJECT", "BLOCK_SUBJECT", "DRAIN_BUCKET"} <= names


@pytest.mark.parametrize(("where", "name", "value"), CONSTANTS, ids=[c[1] for c in CONSTANTS])
def test_every_nats_name_in_the_code_is_in_the_table(where, name, value):
    """A subject someone publishes has a role (not only admin) allowed to; a bucket is written
    by the index alone; a stream is created by the index alone."""
    concrete = value.format(node_id="x").replace(">", "x").replace("*", "x")
    if name.endswith(("_SUBJECT", "_WILDCARD")):
        assert any(may_publish(p, concrete) for p in WORKERS), f"{where}: {name} has no publisher"
    elif name.endswith("_BUCKET"):
        owner = permissions(Role.INCENTIVE, "x") if value in INCENTIVE_OWNS else None
        if owner is None:
            assert value in INDEX_BUCKETS, f"{where}: {name} is not among the index's buckets"
        writers = [p for p in WORKERS if may_publish(p, f"$KV.{value}.k")]
        assert writers == [owner or permissions(Role.INDEX)]
    else:
        # the index may create any stream (it holds the whole JetStream API)
        owners = [permissions(Role.INDEX)]
        if value in INCENTIVE_OWNS:
            owners.append(permissions(Role.INCENTIVE, "x"))
        creators = [p for p in WORKERS if may_publish(p, f"$JS.API.STREAM.CREATE.{value}")]
        assert creators == owners, f"{where}: {name}"


def test_a_storage_node_publishes_only_its_own_subjects():
    n1 = permissions(Role.STORAGE, "n1")
    for subject in (natsutil.HEARTBEAT_SUBJECT, natsutil.REPAIR_RESULT_SUBJECT):
        assert may_publish(n1, subject.format(node_id="n1"))
        assert not may_publish(n1, subject.format(node_id="n2"))
    for forbidden in (
        natsutil.REPAIR_JOB_SUBJECT.format(node_id="n1"),
        natsutil.REPAIR_JOB_SUBJECT.format(node_id="n2"),
        f"$KV.{natsutil.MANIFEST_BUCKET}.f",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.DELETE.STRATOS_REPAIR",
        f"$JS.API.CONSUMER.DELETE.STRATOS_REPAIR.{repair_durable('n1')}",
        f"$JS.API.CONSUMER.MSG.NEXT.STRATOS_REPAIR.{repair_durable('n2')}",
        f"$JS.API.CONSUMER.CREATE.STRATOS_REPAIR.{repair_durable('n1')}.stratos.repair.job.n2",
        f"$JS.API.CONSUMER.DURABLE.CREATE.STRATOS_REPAIR.{repair_durable('n1')}",
        natsutil.AUDIT_RESULT_SUBJECT,
        natsutil.FILE_DELETED_SUBJECT,
    ):
        assert not may_publish(n1, forbidden), forbidden
    assert may_subscribe(n1, "_INBOX.storage.n1.abc.1")
    assert not may_subscribe(n1, "_INBOX.index.abc")
    assert not may_subscribe(n1, natsutil.REPAIR_RESULT_WILDCARD)


def test_a_storage_node_hands_on_receipts_only_as_itself():
    n1 = permissions(Role.STORAGE, "n1")
    assert may_publish(n1, nats_subjects.RECEIPTS_SUBJECT.format(node_id="n1"))
    assert not may_publish(n1, nats_subjects.RECEIPTS_SUBJECT.format(node_id="n2"))
    assert not may_publish(n1, nats_subjects.EPOCH_MARK_SUBJECT)


def test_the_incentive_service_owns_its_stream_and_bucket_and_nothing_else():
    inc = permissions(Role.INCENTIVE, "i1")
    assert may_publish(inc, f"$JS.API.STREAM.CREATE.{nats_subjects.TRAFFIC_STREAM}")
    assert may_publish(inc, f"$KV.{nats_subjects.REPORTS_BUCKET}.3.abc.i1")
    assert may_publish(inc, nats_subjects.EPOCH_MARK_SUBJECT)
    assert may_subscribe(inc, "stratos.chain.block")
    for forbidden in (
        f"$JS.API.STREAM.DELETE.{nats_subjects.TRAFFIC_STREAM}",
        "$JS.API.STREAM.CREATE.STRATOS_REPAIR",
        f"$KV.{natsutil.MANIFEST_BUCKET}.f",
        nats_subjects.RECEIPTS_SUBJECT.format(node_id="n1"),
        natsutil.HEARTBEAT_SUBJECT.format(node_id="n1"),
        natsutil.AUDIT_RESULT_SUBJECT,
    ):
        assert not may_publish(inc, forbidden), forbidden


def test_only_the_index_writes_its_buckets_and_queues_jobs():
    index = permissions(Role.INDEX)
    for bucket in INDEX_BUCKETS:
        assert may_publish(index, f"$KV.{bucket}.file")
    assert may_publish(index, natsutil.REPAIR_JOB_SUBJECT.format(node_id="n2"))
    assert may_subscribe(index, natsutil.REPAIR_RESULT_SUBJECT.format(node_id="n2"))
    assert not may_publish(index, natsutil.HEARTBEAT_SUBJECT.format(node_id="n2"))


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.*.c", "a.b.c", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.b", "a.b.c", False),
        (">", "x", True),
    ],
)
def test_subject_matching_follows_nats(pattern, subject, expected):
    assert matches(pattern, subject) is expected


def test_names_that_are_not_one_subject_token_are_refused():
    for bad in ("", "a.b", "a*", "a>", "a b"):
        with pytest.raises(ValueError):
            permissions(Role.STORAGE, bad)


def test_credentials_files_are_private_and_read_back(tmp_path):
    user, path = ensure_user(tmp_path / "users", Role.STORAGE, "n1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "users").stat().st_mode) == 0o700
    creds = read_credentials(path)
    assert (creds.label, creds.public_key) == ("storage.n1", user.public_key)
    assert creds.inbox_prefix == "_INBOX.storage.n1"
    assert ensure_user(tmp_path / "users", Role.STORAGE, "n1")[0].public_key == user.public_key


def test_the_server_config_holds_public_keys_and_allow_lists_only(tmp_path):
    users = [new_user(Role.INDEX), new_user(Role.STORAGE, "n1")]
    block = authorization_block(users)
    assert all(u.public_key in block for u in users)
    assert not any(u.seed in block for u in users)
    assert '"stratos.node.heartbeat.n1"' in block and "no_auth_user" not in block


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (None, "cannot read the NATS credentials file"),
        ("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU\n", "is not a Stratos NATS"),
        ("# stratos nats user index\nnot-a-seed\n", "is not a Stratos NATS"),
    ],
)
def test_bad_credentials_stop_a_service_with_one_sentence(tmp_path, monkeypatch, content, sentence):
    path = tmp_path / "index.nk"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("STRATOS_NATS_NKEY_FILE", str(path))
    with pytest.raises(ConfigError, match=f"STRATOS_NATS_NKEY_FILE: .*{sentence}") as info:
        load_settings(ServiceSettings)
    assert "STRATOS_NATS_NKEY_FILE" in info.value.variables
    assert "\n" not in str(info.value)


def test_an_unreadable_ca_file_stops_a_service(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_NATS_TLS_CA_FILE", os.fspath(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"STRATOS_NATS_TLS_CA_FILE: .*cannot read the NATS CA"):
        load_settings(ServiceSettings)
