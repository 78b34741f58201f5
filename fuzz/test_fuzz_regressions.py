"""Every crash the fuzz tests found, kept as an explicit example: the input class, and what the
parser does with it now. Each was a real failure of the code before its fix (see the report of
issue 11 part 8 and the commit that fixed it)."""

from __future__ import annotations

import pytest

from fuzz import parsers, seeds
from fuzz.harness import run_one
from stratos.common import erasure
from stratos.common.errors import DataLoss, InvalidArgument
from stratos.sdk.manifest import sign_manifest, verify_manifest
from stratos.sdk.txstatus import decode_tx as describe_tx
from stratos.storage.repair_errors import JobFailed
from stratos.storage.repair_jobs import validate_job
from stratos.v1 import ledger_pb2, repair_pb2, types_pb2

pytestmark = pytest.mark.fuzz


def test_a_signed_manifest_claiming_an_enormous_size_is_refused_at_once() -> None:
    """Was: the SDK built the segment layout of a 2^50-byte file (2^34 entries) before
    comparing it with the manifest's two segments — a reader hung on a stranger's manifest."""
    m = seeds.replicated_manifest()
    m.size = 2**50
    with pytest.raises(DataLoss, match="segments where 17179869184 are needed"):
        verify_manifest(sign_manifest(m, seeds.STRANGER), seeds.FILE_ID)


def test_a_tx_with_an_unnamed_node_role_is_described_not_crashed_on() -> None:
    """Was: `stratos tx status` raised ValueError describing a (malformed, yet committed) tx
    whose RegisterNode role no enum value names."""
    body = ledger_pb2.TxBody(
        chain_id=seeds.CHAIN_ID,
        register_node=ledger_pb2.RegisterNode(role=-(2**31), deposit=1),
    )
    raw = ledger_pb2.Tx(body=body.SerializeToString()).SerializeToString()
    assert describe_tx(raw)["role"] == str(-(2**31))


def test_a_repair_result_of_an_unknown_kind_is_applied_without_error() -> None:
    """Was: the index's result handler raised ValueError naming the kind for its log line (so
    the result was dropped as "not applied")."""
    result = seeds.repair_results()[0]
    result.kind = 77
    assert run_one(parsers.REPAIR_RESULT, result.SerializeToString()) == {}


def test_a_reencode_job_with_a_code_past_the_share_limit_is_refused() -> None:
    """Was: accepted, so a storage node fetched k shares (as many as the job listed) into
    memory before the codec refused the code."""
    job = seeds.repair_jobs()[2]
    job.erasure.parity_shares = 2**31
    with pytest.raises(JobFailed, match="no valid erasure code"):
        validate_job(job, "storage-0")


@pytest.mark.parametrize(
    ("field", "value"),
    [("job_id", "evil\nforged log line"), ("target_node_id", "\x1b[2Jx"), ("chunk_id", "x" * 5000)],
)
def test_a_repair_job_refusal_is_one_bounded_line(field: str, value: str) -> None:
    """Was: job IDs and node names went into the sentence raw (a newline forged log lines and
    RepairResult errors; a 5000-character ID made a 5000-character error)."""
    job = seeds.repair_jobs()[0]
    job.ClearField("sources")  # refused whatever else is wrong: "copy job X lists no source"
    setattr(job, field, value)
    with pytest.raises(JobFailed) as caught:
        validate_job(job, "storage-0")
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert len(str(caught.value)) < 300


def test_the_sdk_names_a_wrong_manifest_without_echoing_control_characters() -> None:
    """Was: "the index returned the manifest of file <raw file_id>" — a hostile index could
    write terminal escapes onto the user's screen."""
    m = seeds.replicated_manifest()
    m.file_id = "\x1b]0;owned\x07"
    with pytest.raises(DataLoss) as caught:
        verify_manifest(sign_manifest(m, seeds.OWNER), seeds.FILE_ID)
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)


@pytest.mark.parametrize("parser", [parsers.INDEX_COMMIT, parsers.AUDIT], ids=str)
def test_an_id_of_thousands_of_characters_is_not_echoed_whole(parser) -> None:
    """Was: check_file_id / check_chunk_id put the whole value in the sentence (1 KiB+ errors,
    and a 4 MiB one could not travel as a gRPC status)."""
    if parser is parsers.INDEX_COMMIT:
        m = seeds.replicated_manifest()
        m.file_id = "x" * 5000
        data = sign_manifest(m, seeds.OWNER).SerializeToString()
    else:
        req = parsers._audit_seeds()[0]
        req.chunk_id = "x" * 5000
        data = req.SerializeToString()
    assert run_one(parser, data) is None  # refused, with a sentence run_one checked


def test_an_erasure_code_of_thousands_of_digits_is_one_sentence() -> None:
    """Was: int() of a 5000-digit "k" raised ValueError (Python's digit limit), and the
    refusal of other text repeated it whole."""
    with pytest.raises(InvalidArgument, match="DATA\\+PARITY") as caught:
        erasure.parse_ec("9" * 5000 + "+1")
    assert len(str(caught.value)) < 300


def test_the_seed_manifests_are_what_the_index_accepts() -> None:
    """The regressions above start from valid messages; this keeps them honest."""
    for signed in seeds.signed_manifests():
        assert isinstance(
            run_one(parsers.INDEX_COMMIT, signed.SerializeToString()), types_pb2.Manifest
        )
    assert repair_pb2.RepairJob.FromString(seeds.repair_jobs()[0].SerializeToString())
