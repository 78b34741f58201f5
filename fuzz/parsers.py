"""Every parser of untrusted bytes in the mesh, one `Parser` each: the registry the fuzz tests
walk. Adding a parser is one entry in PARSERS (its code path, its refusals, valid seeds to
mutate); the harness then fuzzes it with arbitrary bytes and with mutations of the seeds.

Each `parse` runs the code the mesh really runs on those bytes (the index's commit check, the
storage node's job validation, the ledger's check_tx, the validators' engine intake ...), not a
copy of it. The few pieces of machinery around them (a NATS message, a KV bucket) are minimal
stand-ins defined here.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from pathlib import Path
from types import SimpleNamespace

import nats.js.errors
from google.protobuf.message import DecodeError
from hypothesis import strategies as st

from fuzz import seeds
from fuzz.harness import Parser, from_wire
from fuzz.mutate import mutated, texts
from stratos.common.admission import Member, open_list
from stratos.common.admission import issue as issue_list
from stratos.common.attestations import agree, open_attestation
from stratos.common.attestations import sign as sign_attestation
from stratos.common.epoch_reports import shape_problem as report_shape_problem
from stratos.common.erasure import MAX_SHARES
from stratos.common.errors import DataLoss, InvalidArgument, NotFound, PermissionDenied
from stratos.common.hashing import chunk_id as chunk_id_of
from stratos.common.hashing import is_chunk_id
from stratos.common.identity import address_of, verify
from stratos.common.jobkeys import JOB_DOMAIN, open_job, open_sealed, sign_job
from stratos.common.jobkeys import seal as seal_key
from stratos.common.limits import NODE_ID_PATTERN
from stratos.common.manifests import manifest_message
from stratos.common.nats_trust import Gate, Signer
from stratos.common.receipts import ReceiptRefused
from stratos.common.receipts import check as check_receipt
from stratos.common.receipts import sign as sign_receipt
from stratos.common.receipts import signed_bytes as receipt_signed_bytes
from stratos.common.receipts import tickets_by_id as receipt_tickets_by_id
from stratos.common.signed import sign as sign_message
from stratos.common.tickets import DOMAIN as TICKET_DOMAIN
from stratos.common.tickets import Bearer, TicketRefused
from stratos.common.tickets import admit as admit_ticket
from stratos.common.tickets import issue as issue_ticket
from stratos.consensus.bft.engine import Engine
from stratos.consensus.bft.messages import InvalidMessage, Vote, vote_sign_bytes
from stratos.consensus.bft.types import TimeoutConfig
from stratos.consensus.bft.wire import decode as decode_bft
from stratos.consensus.ledger.apply import check_tx
from stratos.consensus.ledger.tx import SIGN_DOMAIN, TxCode
from stratos.consensus.node.codec import verify_evidence_bytes
from stratos.incentive.tally import Tally
from stratos.index.catalog_state import CatalogState
from stratos.index.config import IndexSettings
from stratos.index.heartbeats import HEARTBEAT_PREFIX, HeartbeatFeed
from stratos.index.locations import LocationStore
from stratos.index.manifest_rules import verify_signed
from stratos.index.registry import Registry
from stratos.index.repair_loop import RepairLoop
from stratos.sdk.capability import format_capability, parse_capability
from stratos.sdk.manifest import layout_problem, sign_manifest, verify_manifest
from stratos.sdk.txstatus import decode_tx as describe_tx
from stratos.storage.audit import MAX_AUDIT_BYTES, Range, answer_audit
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.receipts_in import ReceiptDesk
from stratos.storage.repair_errors import JobFailed
from stratos.storage.repair_jobs import REENCODE, Outcome, build_result, kind_name, validate_job
from stratos.v1 import (
    auth_pb2,
    bft_pb2,
    compute_pb2,
    events_pb2,
    ledger_pb2,
    receipt_pb2,
    repair_pb2,
    storage_pb2,
    ticket_pb2,
    types_pb2,
)

# ---- manifests ----------------------------------------------------------------------------


def resigned_manifests(signers=(seeds.OWNER,)) -> st.SearchStrategy[bytes]:
    """Mutated manifests that carry a VALID signature, so they reach the rules behind it."""
    return st.builds(
        lambda m, who: sign_manifest(m, who).SerializeToString(),
        st.sampled_from(seeds.manifests()).flatmap(mutated),
        st.sampled_from(signers),
    )


def _index_accepts(data: bytes, manifest: types_pb2.Manifest) -> None:
    signed = types_pb2.SignedManifest.FromString(data)
    assert verify(signed.owner_public_key, signed.signature, manifest_message(signed.manifest))
    # What the index stores, every reader must be able to read (the SDK checks on its own).
    assert layout_problem(manifest) is None, layout_problem(manifest)
    verify_manifest(signed, manifest.file_id)


def _sdk_accepts(data: bytes, manifest: types_pb2.Manifest) -> None:
    signed = types_pb2.SignedManifest.FromString(data)
    assert verify(signed.owner_public_key, signed.signature, manifest_message(signed.manifest))
    assert manifest.file_id == seeds.FILE_ID


INDEX_COMMIT = Parser(
    "index.commit_manifest",
    from_wire(types_pb2.SignedManifest, verify_signed),
    (InvalidArgument, PermissionDenied),
    seeds=seeds.signed_manifests,
    mutants=lambda: resigned_manifests((seeds.OWNER, seeds.STRANGER)),
    invariant=_index_accepts,
)
SDK_READ = Parser(
    "sdk.verify_manifest",
    from_wire(types_pb2.SignedManifest, lambda s: verify_manifest(s, seeds.FILE_ID)),
    (DataLoss, PermissionDenied),
    seeds=seeds.signed_manifests,
    # whoever holds a capability reads a manifest signed by anyone: the signature proves nothing
    mutants=lambda: resigned_manifests((seeds.OWNER, seeds.STRANGER)),
    invariant=_sdk_accepts,
)

# ---- ledger txs ---------------------------------------------------------------------------


def resigned_txs() -> st.SearchStrategy[bytes]:
    """Txs whose (mutated) body is signed by a funded account: past the signature check."""

    def sign(pair, body: ledger_pb2.TxBody) -> bytes:
        who, _ = pair
        data = body.SerializeToString()
        return ledger_pb2.Tx(
            body=data, public_key=who.public_bytes, signature=who.sign(SIGN_DOMAIN + data)
        ).SerializeToString()

    return st.sampled_from(seeds.tx_bodies()).flatmap(
        lambda pair: mutated(pair[1]).map(lambda body: sign(pair, body))
    )


def _check_tx(data: bytes) -> ledger_pb2.TxResult:
    return check_tx(seeds.ledger_state(), data, verify_evidence=verify_evidence_bytes)


def _tx_result_sound(data: bytes, result: ledger_pb2.TxResult) -> None:
    if result.code != TxCode.OK:
        assert result.log.strip() and "\n" not in result.log, result.log
        return
    # Accepted: the bytes are a tx for this chain, signed by the key it names, from an account.
    tx = ledger_pb2.Tx.FromString(data)
    body = ledger_pb2.TxBody.FromString(tx.body)
    assert verify(tx.public_key, tx.signature, SIGN_DOMAIN + tx.body), "a bad signature passed"
    assert body.chain_id == seeds.CHAIN_ID
    assert seeds.ledger_state().account(address_of(tx.public_key)) is not None


CHECK_TX = Parser(
    "consensus.check_tx",
    _check_tx,
    (),  # check_tx answers with a TxResult code, it never raises
    seeds=seeds.txs,
    mutants=resigned_txs,
    invariant=_tx_result_sound,
)
TX_STATUS = Parser("sdk.describe_tx", describe_tx, (), seeds=seeds.txs, mutants=resigned_txs)

# ---- BFT messages -------------------------------------------------------------------------


def _observer() -> Engine:
    engine = Engine(
        seeds.validator_set(),
        None,
        seeds.CHAIN_ID,
        1,
        TimeoutConfig(),
        lambda: seeds.BLOCK,
        lambda _block: True,
    )
    engine.start()
    return engine


def _engine_intake(data: bytes) -> Engine:
    """What a validator's stream does with a message: decode, then the engine's intake (whose
    refusals come back as Rejected actions, never raised)."""
    engine = _observer()
    engine.on_message(decode_bft(data))
    return engine


def _engine_counts_only_valid_votes(data: bytes, engine: Engine) -> None:
    vs = seeds.validator_set()
    for (round_, vtype), vote_set in engine._log.votes._sets.items():
        for v in vote_set.votes():
            val = vs.get(v.validator)
            assert val is not None, f"counted a vote by {v.validator}, not a validator"
            assert (v.round, v.type) == (round_, vtype)
            assert verify(val.public_key, v.signature, v.sign_bytes(seeds.CHAIN_ID))
    for p in engine._log.proposals.values():
        val = vs.get(p.proposer)
        assert val is not None and verify(val.public_key, p.signature, p.sign_bytes(seeds.CHAIN_ID))


def resigned_votes() -> st.SearchStrategy[bytes]:
    """Mutated votes signed again by a validator or an outsider (a well-formed key that is not
    in the set): structurally odd votes that carry a real signature."""

    def sign(v: bft_pb2.Vote, who, claim_own_address: bool) -> bytes:
        if claim_own_address:
            v.validator = address_of(who.public_bytes)
        try:
            msg = vote_sign_bytes(
                seeds.CHAIN_ID, v.type, v.height, v.round, v.block_hash, v.validator
            )
        except (OverflowError, ValueError):  # no signer could sign these fields either
            return bft_pb2.ConsensusMessage(vote=v).SerializeToString()
        v.signature = who.sign(msg)
        return bft_pb2.ConsensusMessage(vote=v).SerializeToString()

    votes = [m.vote for m in seeds.consensus_messages() if m.HasField("vote")]
    return st.builds(
        sign,
        st.sampled_from(votes).flatmap(mutated),
        st.sampled_from([*seeds.VALIDATORS, seeds.OUTSIDER]),
        st.booleans(),
    )


BFT_MESSAGE = Parser(
    "consensus.bft_message",
    _engine_intake,
    (InvalidMessage,),
    seeds=seeds.consensus_messages,
    mutants=resigned_votes,
    invariant=_engine_counts_only_valid_votes,
)


def _convicts_a_validator(data: bytes, offender: str) -> None:
    msg = bft_pb2.Evidence.FromString(data)
    val = seeds.validator_set().get(offender)
    assert val is not None, f"evidence convicted {offender}, not a validator"
    for p in (msg.a, msg.b):
        v = Vote(p.type, p.height, p.round, p.block_hash, p.validator, p.signature)
        assert verify(val.public_key, v.signature, v.sign_bytes(seeds.CHAIN_ID))
    assert msg.a.block_hash != msg.b.block_hash


EVIDENCE = Parser(
    "consensus.slash_evidence",
    lambda data: verify_evidence_bytes(data, seeds.ledger_state()),
    (InvalidArgument,),
    seeds=lambda: [bft_pb2.Evidence.FromString(seeds.evidence_bytes())],
    invariant=_convicts_a_validator,
)

# The mesh the NATS and ticket parsers run in: its admin, an index replica and a holder.
_META_NODE = "index-1"
_TICKET_NODE = "storage-1"
_TICKET_NOW = 1_700_000_000_000
_META_KEY, _HOLDER, _ADMIN = seeds.key(70), seeds.key(71), seeds.key(72)
_TICKET_ADMISSION = open_list(
    issue_list(
        _ADMIN, "fuzz", 1, [Member(_META_NODE, auth_pb2.MESH_ROLE_META, _META_KEY.public_bytes)]
    ),
    _ADMIN.public_bytes,
    "fuzz",
)


# ---- NATS events: heartbeats, repair jobs, repair results -----------------------------------


def _nats_msg(subject: str, data: bytes) -> SimpleNamespace:
    """The three attributes of a nats.aio.msg.Msg the handlers read."""
    meta = SimpleNamespace(sequence=SimpleNamespace(stream=1), num_delivered=1)
    return SimpleNamespace(subject=subject, data=data, metadata=meta, headers=None)


class _NoNats:
    def jetstream(self) -> None:
        return None


# The seeds' storage node, admitted with the key its heartbeats carry, and the index.
_NODE_ADMISSION = open_list(
    issue_list(
        _ADMIN,
        "fuzz",
        1,
        [
            Member("storage-0", auth_pb2.MESH_ROLE_STORAGE, seeds.OWNER.public_bytes),
            Member(_META_NODE, auth_pb2.MESH_ROLE_META, _META_KEY.public_bytes),
        ],
    ),
    _ADMIN.public_bytes,
    "fuzz",
)


def _heartbeat_feed(data: bytes) -> Registry:
    """The index's heartbeat handler, fed as the admitted node sends: signed by storage-0 on
    the subject its body names (a body naming another node is then not believed, as it must
    not be), so the fuzzed bytes reach the checks behind the signature."""
    registry = Registry(suspect_after_s=6, lost_after_s=30)
    feed = HeartbeatFeed(_NoNats(), registry, replicas=1, gate=Gate(lambda: _NODE_ADMISSION))
    try:  # the subject the sender published on: its own node ID, as a real node does
        node_id = events_pb2.Heartbeat.FromString(data).node.node_id
    except DecodeError:
        node_id = "storage-0"
    subject = HEARTBEAT_PREFIX + node_id
    msg = _nats_msg(subject, data)
    msg.headers = sign_message(seeds.OWNER, "storage-0", subject, data)
    _run(feed._on_msg(msg))
    return registry


def _registers_only_sane_nodes(data: bytes, registry: Registry) -> None:
    import re

    for status in registry.statuses(now_ms=0):
        assert re.fullmatch(NODE_ID_PATTERN, status.info.node_id), status.info.node_id


HEARTBEAT = Parser(
    "index.heartbeat",
    _heartbeat_feed,
    (),  # the feed logs and drops what it cannot use; it must never raise
    seeds=seeds.heartbeats,
    invariant=_registers_only_sane_nodes,
)


def _storage_job(data: bytes) -> repair_pb2.RepairJob:
    """The storage node's handling of a job before any I/O: decode (an undecodable job is acked
    and dropped), validate, and the names and result it reports."""
    job = repair_pb2.RepairJob.FromString(data)
    try:
        validate_job(job, "storage-0")
    except JobFailed as err:
        build_result(job, "storage-0", Outcome.failed(err), "")
        kind_name(job.kind)
        raise
    build_result(job, "storage-0", Outcome.done(job.size), "")
    kind_name(job.kind)
    return job


def _job_is_doable(data: bytes, job: repair_pb2.RepairJob) -> None:
    assert is_chunk_id(job.chunk_id)
    assert job.target_node_id in ("", "storage-0")
    if job.kind == REENCODE:
        k, m = job.erasure.data_shares, job.erasure.parity_shares
        assert k >= 1 and m >= 1 and k + m <= MAX_SHARES, f"accepted a {k}+{m} code"
        assert job.share_index < k + m


REPAIR_JOB = Parser(
    "storage.repair_job",
    _storage_job,
    (DecodeError, JobFailed),
    seeds=seeds.repair_jobs,
    invariant=_job_is_doable,
)


def _storage_batch(data: bytes) -> list[repair_pb2.RepairJob]:
    """A batch of jobs (RepairJobBatch): decoded whole or refused; then each job is handled as
    a single one is, a refused job reported failed while the others go on."""
    accepted = []
    for job in repair_pb2.RepairJobBatch.FromString(data).jobs:
        try:
            accepted.append(_storage_job(job.SerializeToString()))
        except JobFailed:
            continue
    return accepted


def _batch_is_doable(data: bytes, jobs: list[repair_pb2.RepairJob]) -> None:
    for job in jobs:
        _job_is_doable(data, job)


REPAIR_BATCH = Parser(
    "storage.repair_batch",
    _storage_batch,
    (DecodeError,),
    seeds=lambda: [repair_pb2.RepairJobBatch(jobs=seeds.repair_jobs())],
    invariant=_batch_is_doable,
)


class _MemoryKV:
    """The four calls of a JetStream KV bucket the repair loop and LocationStore make."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[bytes, int]] = {}

    async def get(self, key: str):
        if key not in self.values:
            raise nats.js.errors.KeyNotFoundError
        value, revision = self.values[key]
        return SimpleNamespace(value=value, revision=revision)

    async def create(self, key: str, value: bytes) -> int:
        self.values[key] = (value, 1)
        return 1

    async def update(self, key: str, value: bytes, last: int) -> int:
        self.values[key] = (value, last + 1)
        return last + 1


@functools.cache
def _index_settings() -> IndexSettings:
    return IndexSettings()


def _repair_result(data: bytes) -> dict[str, types_pb2.FileLocations]:
    """The index's handling of a RepairResult on stratos.repair.result: decode (undecodable
    ones are logged and dropped), then apply it to the file's locations."""
    result = repair_pb2.RepairResult.FromString(data)
    loop = RepairLoop(
        _NoNats(),
        Registry(6, 30),
        _index_settings(),
        catalog=SimpleNamespace(state=CatalogState()),  # knows no file: the bucket is asked
        signer=Signer(_META_NODE, _META_KEY),
        gate=Gate(lambda: _NODE_ADMISSION),
    )
    manifests, locations = _MemoryKV(), _MemoryKV()
    for signed in seeds.signed_manifests()[:1]:
        manifests.values[seeds.FILE_ID] = (signed.SerializeToString(), 1)
    loop._manifest_kv, loop._locations = manifests, LocationStore(locations)
    _run(loop._apply(result))
    return {k: types_pb2.FileLocations.FromString(v) for k, (v, _) in locations.values.items()}


def _locations_follow_results(data: bytes, written: dict[str, types_pb2.FileLocations]) -> None:
    result = repair_pb2.RepairResult.FromString(data)
    if not written:
        return
    assert result.ok and list(written) == [seeds.FILE_ID]
    signed = {s.chunk_id: list(s.node_ids) for s in seeds.replicated_manifest().segments}
    for loc in written[seeds.FILE_ID].chunks:
        before, after = set(signed[loc.chunk_id]), set(loc.node_ids)
        assert before ^ after <= {result.node_id}, "a result changed another node's holding"


REPAIR_RESULT = Parser(
    "index.repair_result",
    _repair_result,
    (DecodeError,),
    seeds=seeds.repair_results,
    invariant=_locations_follow_results,
)

# ---- audits -------------------------------------------------------------------------------

_AUDITED = bytes(range(256)) * 4


@functools.cache
def _audit_store() -> ChunkStore:
    store = ChunkStore(
        Path(tempfile.mkdtemp(prefix="stratos-fuzz-audit-")),
        node_id="storage-0",
        capacity_bytes=2**20,
    )
    store.put(chunk_id_of(_AUDITED), _AUDITED)
    return store


def _answer_audit(req: storage_pb2.AuditRequest) -> bytes:
    """The storage node's Audit RPC: the challenge from a stranger, answered from the disk."""
    ranges = [Range(r.offset, r.length) for r in req.ranges]
    return answer_audit(_audit_store(), req.chunk_id, req.nonce, ranges)


def _audit_seeds() -> list[storage_pb2.AuditRequest]:
    out = []
    for req in seeds.audit_requests():
        req.chunk_id = chunk_id_of(_AUDITED)
        out.append(req)
    return out


def _answer_is_bounded(data: bytes, digest: bytes) -> None:
    req = storage_pb2.AuditRequest.FromString(data)
    assert len(digest) == 32
    assert sum(r.length for r in req.ranges) <= MAX_AUDIT_BYTES


AUDIT = Parser(
    "storage.audit_request",
    from_wire(storage_pb2.AuditRequest, _answer_audit),
    (InvalidArgument, NotFound, DataLoss),
    seeds=_audit_seeds,
    invariant=_answer_is_bounded,
)

# ---- capabilities -------------------------------------------------------------------------


def _capability(data: bytes) -> tuple[str, bytes]:
    # surrogateescape: how Python hands a program undecodable command-line bytes
    return parse_capability(data.decode("utf-8", "surrogateescape"))


def capability_mutants() -> st.SearchStrategy[bytes]:
    valid = format_capability(seeds.FILE_ID, bytes(range(32)))

    @st.composite
    def edit(draw) -> bytes:
        text = valid
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            end = draw(st.integers(at, min(len(text), at + 8)))
            text = text[:at] + draw(st.one_of(st.just(""), texts())) + text[end:]
        return text.encode("utf-8", "surrogateescape")

    return edit()


def _capability_round_trips(data: bytes, parsed: tuple[str, bytes]) -> None:
    text = data.decode("utf-8", "surrogateescape").strip()
    assert format_capability(*parsed) == text


CAPABILITY = Parser(
    "sdk.capability",
    _capability,
    (InvalidArgument,),
    mutants=capability_mutants,
    invariant=_capability_round_trips,
)

# ---- tickets ------------------------------------------------------------------------------


def _ticket(**changes) -> ticket_pb2.SignedTicket:
    fields = {
        "holder_public_key": _HOLDER.public_bytes,
        "actions": [ticket_pb2.TICKET_ACTION_GET],
        "node_ids": [_TICKET_NODE],
        "byte_budget": 1 << 20,
        "ttl_ms": 60_000,
        "chunk_ids": [seeds.CHUNK],
        "payer": address_of(_HOLDER.public_bytes),
        "file_id": seeds.FILE_ID,
        "now": _TICKET_NOW,
    } | changes
    return issue_ticket(_META_KEY, _META_NODE, **fields)


def ticket_proofs() -> list[ticket_pb2.TicketProof]:
    """A holder's GetChunk proofs, for the one chunk and for any chunk of a longer ticket."""
    return [
        Bearer(_HOLDER, _ticket()).prove("GetChunk", _TICKET_NODE, seeds.CHUNK),
        Bearer(_HOLDER, _ticket(chunk_ids=[seeds.CHUNK, seeds.OTHER_CHUNK])).prove(
            "GetChunk", _TICKET_NODE, seeds.CHUNK
        ),
    ]


def resigned_tickets() -> st.SearchStrategy[bytes]:
    """Mutated tickets signed again by the admitted meta key and proved by the holder, so they
    reach the shape, expiry and coverage rules behind the two signatures."""

    def sign_and_prove(ticket: ticket_pb2.Ticket) -> bytes:
        body = ticket.SerializeToString()
        signed = ticket_pb2.SignedTicket(
            ticket=body, signature=_META_KEY.sign(TICKET_DOMAIN + body)
        )
        return (
            Bearer(_HOLDER, signed).prove("GetChunk", _TICKET_NODE, seeds.CHUNK).SerializeToString()
        )

    return (
        st.sampled_from(ticket_proofs())
        .flatmap(lambda p: mutated(ticket_pb2.Ticket.FromString(p.ticket.ticket)))
        .map(sign_and_prove)
    )


def _admit_get(proof: ticket_pb2.TicketProof) -> object:
    return admit_ticket(
        proof,
        _TICKET_ADMISSION,
        method="GetChunk",
        action=ticket_pb2.TICKET_ACTION_GET,
        node_id=_TICKET_NODE,
        chunk_id=seeds.CHUNK,
        fields=(seeds.CHUNK,),
        now=_TICKET_NOW + 1,
    )


def _only_what_the_meta_node_signed(data: bytes, ticket) -> None:
    proof = ticket_pb2.TicketProof.FromString(data)
    assert verify(
        _META_KEY.public_bytes, proof.ticket.signature, TICKET_DOMAIN + proof.ticket.ticket
    )
    assert ticket.holder_public_key == _HOLDER.public_bytes
    assert ticket.issued_unix_ms <= _TICKET_NOW + 1 < ticket.expires_unix_ms
    assert ticket_pb2.TICKET_ACTION_GET in ticket.actions and _TICKET_NODE in ticket.node_ids
    assert seeds.CHUNK in ticket.chunk_ids


TICKET = Parser(
    "storage.ticket",
    from_wire(ticket_pb2.TicketProof, _admit_get),
    (TicketRefused,),
    seeds=ticket_proofs,
    mutants=resigned_tickets,
    invariant=_only_what_the_meta_node_signed,
)

# ---- Proof-of-Traffic receipts: the storage node's intake, the incentive service's tally ------

_RECEIPT_ADMISSION = open_list(
    issue_list(
        _ADMIN,
        "fuzz",
        1,
        [
            Member(_META_NODE, auth_pb2.MESH_ROLE_META, _META_KEY.public_bytes),
            Member(_TICKET_NODE, auth_pb2.MESH_ROLE_STORAGE, seeds.OWNER.public_bytes),
        ],
    ),
    _ADMIN.public_bytes,
    "fuzz",
)
_RECEIPT_TICKET = _ticket(
    actions=[ticket_pb2.TICKET_ACTION_GET, ticket_pb2.TICKET_ACTION_PUT],
    chunk_ids=[seeds.CHUNK, seeds.OTHER_CHUNK],
    byte_budget=1_000,
)


def _receipt(chunk: str, nbytes: int, serial: int) -> receipt_pb2.SignedReceipt:
    return sign_receipt(
        _HOLDER,
        _RECEIPT_TICKET,
        chunk_id=chunk,
        node_id=_TICKET_NODE,
        action=ticket_pb2.TICKET_ACTION_GET,
        nbytes=nbytes,
        serial=serial,
    )


def receipt_requests() -> list[receipt_pb2.SubmitReceiptsRequest]:
    return [
        receipt_pb2.SubmitReceiptsRequest(
            tickets=[_RECEIPT_TICKET],
            receipts=[_receipt(seeds.CHUNK, 600, 0), _receipt(seeds.OTHER_CHUNK, 400, 1)],
        )
    ]


def resigned_receipts() -> st.SearchStrategy[bytes]:
    """Mutated receipt bodies signed again by the ticket's holder: past the signature, into the
    node, chunk, action and byte rules behind it."""

    def sign_again(body: receipt_pb2.Receipt) -> bytes:
        raw = body.SerializeToString()
        signed = receipt_pb2.SignedReceipt(
            receipt=raw,
            signature=_HOLDER.sign(receipt_signed_bytes(_RECEIPT_TICKET.signature, raw)),
        )
        return receipt_pb2.SubmitReceiptsRequest(
            tickets=[_RECEIPT_TICKET], receipts=[signed]
        ).SerializeToString()

    first = receipt_requests()[0].receipts[0]
    return mutated(receipt_pb2.Receipt.FromString(first.receipt)).map(sign_again)


def _storage_takes_receipts(request: receipt_pb2.SubmitReceiptsRequest) -> list[bytes]:
    """The storage node's SubmitReceipts: checked, then published (here: kept)."""
    published: list[bytes] = []

    async def publish(subject: str, payload: bytes) -> None:
        published.append(payload)

    desk = ReceiptDesk(
        lambda: _RECEIPT_ADMISSION, _TICKET_NODE, publish, clock_ms=lambda: _TICKET_NOW + 1
    )
    _run(desk.submit(request))
    return published


def _publishes_only_receipts_worth_paying(data: bytes, published: list[bytes]) -> None:
    for payload in published:
        batch = receipt_pb2.ReceiptBatch.FromString(payload)
        assert batch.node_id == _TICKET_NODE
        by_id = receipt_tickets_by_id(list(batch.tickets))
        for r in batch.receipts:
            c = check_receipt(r, by_id, _RECEIPT_ADMISSION, node_id=_TICKET_NODE, now=_TICKET_NOW)
            assert 0 < c.nbytes <= c.ticket.byte_budget


RECEIPTS = Parser(
    "storage.receipts",
    from_wire(receipt_pb2.SubmitReceiptsRequest, _storage_takes_receipts),
    (ReceiptRefused, InvalidArgument),
    seeds=receipt_requests,
    mutants=resigned_receipts,
    invariant=_publishes_only_receipts_worth_paying,
)


def receipt_batches() -> list[receipt_pb2.ReceiptBatch]:
    req = receipt_requests()[0]
    return [
        receipt_pb2.ReceiptBatch(node_id=_TICKET_NODE, tickets=req.tickets, receipts=req.receipts)
    ]


def _tally(batch: receipt_pb2.ReceiptBatch) -> Tally:
    """The incentive service's tally, fed one batch as the stream stored it (twice: a replay)."""
    tally = Tally(lambda: _RECEIPT_ADMISSION)
    tally.add_receipts(batch, _TICKET_NOW + 1)
    tally.add_receipts(batch, _TICKET_NOW + 2)
    return tally


def _counts_within_the_budget(data: bytes, tally: Tally) -> None:
    counted = tally.counts
    assert sum(counted.bytes_by_node.values()) <= _RECEIPT_TICKET_BUDGET
    assert sum(counted.ozone_by_payer.values()) <= sum(counted.bytes_by_node.values())
    report = tally.close(0)
    report.signatures.add(public_key=b"k" * 32, signature=b"s" * 64)
    assert report_shape_problem(report) is None  # always a report the ledger can read


_RECEIPT_TICKET_BUDGET = 1_000

TRAFFIC_BATCH = Parser(
    "incentive.receipt_batch",
    from_wire(receipt_pb2.ReceiptBatch, _tally),
    (),
    seeds=receipt_batches,
    invariant=_counts_within_the_budget,
)

# ---- compute jobs and attestations (issue 14) ---------------------------------------------

_EXECUTOR = seeds.key(30)  # the executor the seed job's input key is sealed to


def _compute_jobs() -> list[compute_pb2.ComputeJob]:
    job_id = bytes(range(16))
    sealed = seal_key(
        _EXECUTOR.public_bytes,
        job_id=job_id,
        input_index=0,
        file_id=seeds.FILE_ID,
        submitter_public_key=seeds.OWNER.public_bytes,
        file_key=seeds.FILE_KEY,
    )
    return [
        compute_pb2.ComputeJob(
            job_id=job_id,
            submitter_public_key=seeds.OWNER.public_bytes,
            module_hash=bytes(32),
            inputs=[
                compute_pb2.JobInput(
                    file_id=seeds.FILE_ID,
                    keys=[compute_pb2.SealedKey(executor="exec-0", sealed=sealed)],
                )
            ],
            replicas=1,
            executors=["exec-0"],
            fuel=10**9,
        )
    ]


def _executor_takes_job(signed: compute_pb2.SignedJob) -> bytes:
    """What an executor does with a job handed to it: check the submitter's signature, then
    open its own sealed key of every input (bound to this job, input, file and submitter)."""
    job = open_job(signed)
    key = b""
    for i, item in enumerate(job.inputs):
        for sealed in item.keys:
            if sealed.executor == "exec-0":
                key = open_sealed(
                    _EXECUTOR,
                    sealed.sealed,
                    job_id=job.job_id,
                    input_index=i,
                    file_id=item.file_id,
                    submitter_public_key=job.submitter_public_key,
                )
    return key


def _only_the_sealed_key(data: bytes, key: bytes) -> None:
    assert key in (b"", seeds.FILE_KEY)  # nothing else can come out of a box sealed for us


COMPUTE_JOB = Parser(
    "compute.signed_job",
    from_wire(compute_pb2.SignedJob, _executor_takes_job),
    (InvalidArgument, PermissionDenied),
    seeds=lambda: [sign_job(seeds.OWNER, j) for j in _compute_jobs()],
    mutants=lambda: st.builds(
        lambda j, who: compute_pb2.SignedJob(
            job=j.SerializeToString(), signature=who.sign(JOB_DOMAIN + j.SerializeToString())
        ).SerializeToString(),
        st.sampled_from(_compute_jobs()).flatmap(mutated),
        st.sampled_from([seeds.OWNER, seeds.STRANGER]),
    ),
    invariant=_only_the_sealed_key,
)


def _attestations() -> list[compute_pb2.Attestation]:
    return [
        compute_pb2.Attestation(
            job_id=bytes(range(16)),
            executor="exec-0",
            module_hash=bytes(32),
            input_chunks=[seeds.CHUNK],
            ok=True,
            output_hash=bytes(32),
            output_size=10,
            fuel_used=1_000,
        )
    ]


def _vote_on(signed: compute_pb2.SignedAttestation) -> object:
    a = open_attestation(signed, _EXECUTOR.public_bytes)
    return agree(_compute_jobs()[0], [a])


def _a_vote_counts_only_its_jobs(data: bytes, verdict) -> None:
    if verdict.agreed:
        assert verdict.accepted.executor == "exec-0"
        assert bytes(verdict.accepted.job_id) == bytes(range(16))


ATTESTATION = Parser(
    "compute.attestation",
    from_wire(compute_pb2.SignedAttestation, _vote_on),
    (InvalidArgument, PermissionDenied),
    seeds=lambda: [sign_attestation(_EXECUTOR, a) for a in _attestations()],
    mutants=lambda: st.builds(
        lambda a, who: sign_attestation(who, a).SerializeToString(),
        st.sampled_from(_attestations()).flatmap(mutated),
        st.sampled_from([_EXECUTOR, seeds.STRANGER]),
    ),
    invariant=_a_vote_counts_only_its_jobs,
)

# ---- helpers ------------------------------------------------------------------------------

_loop = asyncio.new_event_loop()


def _run(coro):
    return _loop.run_until_complete(coro)


PARSERS: tuple[Parser, ...] = (
    INDEX_COMMIT,
    SDK_READ,
    COMPUTE_JOB,
    ATTESTATION,
    CHECK_TX,
    TX_STATUS,
    BFT_MESSAGE,
    EVIDENCE,
    HEARTBEAT,
    REPAIR_JOB,
    REPAIR_BATCH,
    REPAIR_RESULT,
    AUDIT,
    CAPABILITY,
    TICKET,
    RECEIPTS,
    TRAFFIC_BATCH,
)
"""The registry. A new parser of untrusted bytes (tickets, receipts, S3 requests) is one more
`Parser(...)` here; the tests in test_fuzz_parsers.py pick it up."""
