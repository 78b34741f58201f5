"""Valid messages of every kind the parsers read, built with the project's own writers (the SDK's
manifest builder, the wallet's tx builder, the validators' vote signer), for the harness to
mutate. Fixed keys, so every run starts from the same bytes."""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratos.common.erasure import share_size
from stratos.common.identity import Identity, address_of
from stratos.consensus.bft.messages import (
    Commit,
    Evidence,
    VoteType,
    hash_block,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.bft.validators import Validator, ValidatorSet
from stratos.consensus.bft.wire import to_proto
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.state import LedgerState, Params
from stratos.consensus.ledger.tx import build_tx
from stratos.sdk.file_names import sealed_name
from stratos.sdk.manifest import build_manifest, segment_record, sign_manifest
from stratos.v1 import bft_pb2, events_pb2, ledger_pb2, repair_pb2, storage_pb2, types_pb2

CHAIN_ID = "fuzz-chain"
FILE_ID = "0123456789abcdef0123456789abcdef"
CHUNK = "ab" * 32
OTHER_CHUNK = "cd" * 32
SEGMENT = 64 * 1024
FILE_KEY = bytes(range(32))  # the file key the seeds' names are sealed with
STOS = 10**9


def key(n: int) -> Identity:
    return Identity(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


OWNER, STRANGER = key(1), key(2)
ALICE, BOB = key(3), key(4)
VALIDATORS = tuple(key(10 + i) for i in range(4))
OUTSIDER = key(99)  # a well-formed key that is not in the validator set


def replicated_manifest() -> types_pb2.Manifest:
    segs = [
        segment_record(0, CHUNK, SEGMENT, ["storage-0", "storage-1"]),
        segment_record(1, OTHER_CHUNK, 100, ["storage-1", "storage-2"]),
    ]
    return build_manifest(
        file_id=FILE_ID,
        name="report.pdf",
        key=FILE_KEY,
        size=SEGMENT + 100,
        segment_size=SEGMENT,
        replicas=2,
        segments=segs,
        created_unix_ms=1_700_000_000_000,
    )


def coded_manifest() -> types_pb2.Manifest:
    k, m, plain = 2, 1, 1000
    stored = plain + 16
    seg = types_pb2.Segment(index=0, plain_size=plain, stored_size=stored)
    for i in range(k + m):
        seg.shares.add(
            index=i, chunk_id=f"{i:02x}" * 32, size=share_size(stored, k), node_ids=[f"storage-{i}"]
        )
    return types_pb2.Manifest(
        file_id=FILE_ID,
        metadata=sealed_name(FILE_KEY, FILE_ID, "coded.bin"),
        size=plain,
        segment_size=SEGMENT,
        replicas=1,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=1_700_000_000_000,
        segments=[seg],
        erasure=types_pb2.ErasureCode(data_shares=k, parity_shares=m),
    )


def manifests() -> list[types_pb2.Manifest]:
    return [replicated_manifest(), coded_manifest()]


def signed_manifests() -> list[types_pb2.SignedManifest]:
    return [sign_manifest(m, OWNER) for m in manifests()]


# ---- ledger -------------------------------------------------------------------------------

PARAMS = Params(min_fee=1_000, max_tx_bytes=4_096, min_deposit_resource=10 * STOS)


@functools.cache
def ledger_state() -> LedgerState:
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_unix_ms=1_700_000_000_000,
        accounts=tuple((address_of(k.public_bytes), 1_000 * STOS) for k in (ALICE, BOB)),
        validators=tuple(GenesisValidator(v.public_bytes, power=10) for v in VALIDATORS),
        params=PARAMS,
    )
    return genesis.initial_state()


def tx_bodies() -> list[tuple[Identity, ledger_pb2.TxBody]]:
    """(signer, body) of one valid tx per message kind."""
    to = address_of(BOB.public_bytes)
    msgs = {
        "transfer": ledger_pb2.Transfer(to=to, amount=5 * STOS),
        "register_node": ledger_pb2.RegisterNode(
            role=ledger_pb2.NODE_ROLE_RESOURCE, deposit=10 * STOS
        ),
        "unbond": ledger_pb2.Unbond(),
        "prepay_ozone": ledger_pb2.PrepayOzone(amount=STOS),
        "epoch_report": ledger_pb2.EpochReport(
            epoch=0,
            traffic=[ledger_pb2.NodeTraffic(node=to, bytes=100, audits_failed=1)],
            payers=[ledger_pb2.PayerTraffic(payer=address_of(ALICE.public_bytes), ozone=100)],
            signatures=[
                ledger_pb2.ReportSignature(public_key=ALICE.public_bytes, signature=b"\x01" * 64)
            ],
        ),
        "slash": ledger_pb2.Slash(evidence=evidence_bytes()),
    }
    return [
        (ALICE, ledger_pb2.TxBody(chain_id=CHAIN_ID, nonce=0, fee=1_000, **{kind: msg}))
        for kind, msg in msgs.items()
    ]


def txs() -> list[ledger_pb2.Tx]:
    return [
        ledger_pb2.Tx.FromString(
            build_tx(who, chain_id=b.chain_id, nonce=b.nonce, fee=b.fee, **{k: getattr(b, k)})
        )
        for who, b in tx_bodies()
        for k in [b.WhichOneof("msg")]
    ]


# ---- BFT ----------------------------------------------------------------------------------


@functools.cache
def validator_set() -> ValidatorSet:
    return ValidatorSet(Validator.from_public_key(v.public_bytes, 10) for v in VALIDATORS)


def proposer_key(height: int, round_: int) -> Identity:
    address = validator_set().proposer(height, round_).address
    return next(v for v in VALIDATORS if address_of(v.public_bytes) == address)


BLOCK = b"a block the validators agree on"


def votes() -> list:
    h = hash_block(BLOCK)
    return [
        sign_vote(VALIDATORS[0], CHAIN_ID, VoteType.PREVOTE, 1, 0, h),
        sign_vote(VALIDATORS[1], CHAIN_ID, VoteType.PRECOMMIT, 1, 0, h),
        sign_vote(VALIDATORS[2], CHAIN_ID, VoteType.PREVOTE, 1, 1, b""),
    ]


def evidence() -> Evidence:
    a = sign_vote(VALIDATORS[3], CHAIN_ID, VoteType.PREVOTE, 1, 0, hash_block(b"one"))
    b = sign_vote(VALIDATORS[3], CHAIN_ID, VoteType.PREVOTE, 1, 0, hash_block(b"two"))
    return Evidence(a, b)


def evidence_bytes() -> bytes:
    from stratos.consensus.node.codec import evidence_to_bytes

    return evidence_to_bytes(evidence())


def consensus_messages() -> list[bft_pb2.ConsensusMessage]:
    h = hash_block(BLOCK)
    precommits = tuple(sign_vote(v, CHAIN_ID, VoteType.PRECOMMIT, 1, 0, h) for v in VALIDATORS[:3])
    from stratos.consensus.bft.messages import CommittedBlock

    msgs = [
        *votes(),
        sign_proposal(proposer_key(1, 0), CHAIN_ID, 1, 0, -1, BLOCK),
        sign_proposal(proposer_key(1, 2), CHAIN_ID, 1, 2, 1, BLOCK),
        CommittedBlock(BLOCK, Commit(1, 0, h, precommits)),
        evidence(),
    ]
    return [to_proto(m) for m in msgs]


# ---- storage and index events -------------------------------------------------------------


def heartbeats() -> list[events_pb2.Heartbeat]:
    return [
        events_pb2.Heartbeat(
            node=types_pb2.NodeInfo(
                node_id="storage-0",
                address="127.0.0.1:7000",
                zone="z1",
                capacity_bytes=10 * 2**30,
                used_bytes=2**20,
                public_key=OWNER.public_bytes,
                version="0.1.0",
            ),
            sent_unix_ms=1_700_000_000_000,
            chunk_count=12,
        )
    ]


def repair_jobs() -> list[repair_pb2.RepairJob]:
    src = repair_pb2.ChunkSource(node_id="storage-1", address="127.0.0.1:7001")
    return [
        repair_pb2.RepairJob(
            job_id="copy-1",
            kind=repair_pb2.REPAIR_KIND_COPY,
            file_id=FILE_ID,
            chunk_id=CHUNK,
            size=SEGMENT + 16,
            target_node_id="storage-0",
            sources=[src],
            reason="storage-3 lost",
            planned_unix_ms=1_700_000_000_000,
        ),
        repair_pb2.RepairJob(
            job_id="del-1",
            kind=repair_pb2.REPAIR_KIND_DELETE,
            chunk_id=CHUNK,
            target_node_id="storage-0",
            planned_unix_ms=1_700_000_000_000,
        ),
        repair_pb2.RepairJob(
            job_id="re-1",
            kind=repair_pb2.REPAIR_KIND_REENCODE,
            file_id=FILE_ID,
            chunk_id="02" * 32,
            size=508,
            target_node_id="storage-0",
            erasure=types_pb2.ErasureCode(data_shares=2, parity_shares=1),
            share_index=2,
            shares=[
                repair_pb2.ShareSource(index=i, chunk_id=f"{i:02x}" * 32, holders=[src])
                for i in (0, 1)
            ],
            segment_stored_size=1016,
        ),
    ]


def repair_results() -> list[repair_pb2.RepairResult]:
    return [
        repair_pb2.RepairResult(
            job_id="copy-1",
            kind=kind,
            file_id=FILE_ID,
            chunk_id=CHUNK,
            node_id="storage-3",
            ok=ok,
            error="" if ok else "no source could provide the chunk",
            bytes=SEGMENT + 16,
        )
        for kind in (repair_pb2.REPAIR_KIND_COPY, repair_pb2.REPAIR_KIND_DELETE)
        for ok in (True, False)
    ]


def audit_requests() -> list[storage_pb2.AuditRequest]:
    return [
        storage_pb2.AuditRequest(
            chunk_id=CHUNK,
            nonce=bytes(range(16)),
            ranges=[
                storage_pb2.ByteRange(offset=0, length=10),
                storage_pb2.ByteRange(offset=5, length=1),
            ],
        )
    ]
