"""A compute executor reading a job's input (stratos.index.job_reads): the job's payer pays,
but only for an admitted executor the signed job names, one of its files, while it is recent;
and GetManifest hands such an executor tickets paid by the job's payer."""

from __future__ import annotations

import os

import pytest

from stratos.common import admission, tickets
from stratos.common.errors import FailedPrecondition, PermissionDenied
from stratos.common.identity import Identity, address_of
from stratos.common.jobkeys import sign_job
from stratos.index.job_reads import JOB_READ_WINDOW_MS, payer_for_job_read
from stratos.v1 import auth_pb2, compute_pb2

NOW = 1_700_000_000_000
ADMIN, SUBMITTER = Identity.generate(), Identity.generate()
EXEC, BYSTANDER, META = Identity.generate(), Identity.generate(), Identity.generate()
STORAGE, META_ROLE = auth_pb2.MESH_ROLE_STORAGE, auth_pb2.MESH_ROLE_META
ADMITTED = admission.open_list(
    admission.issue(
        ADMIN,
        "m",
        1,
        [
            admission.Member("storage-1", STORAGE, EXEC.public_bytes),
            admission.Member("storage-2", STORAGE, BYSTANDER.public_bytes),
            admission.Member("index-1", META_ROLE, META.public_bytes),
        ],
    ),
    ADMIN.public_bytes,
    "m",
)
INPUT, MODULE = "a" * 32, "b" * 32


def job(signer: Identity = SUBMITTER, **over) -> compute_pb2.SignedJob:
    fields = {
        "job_id": os.urandom(16),
        "submitter_public_key": SUBMITTER.public_bytes,
        "payer": address_of(SUBMITTER.public_bytes),
        "module_file_id": MODULE,
        "inputs": [compute_pb2.JobInput(file_id=INPUT)],
        "replicas": 1,
        "executors": ["storage-1"],
        "fuel": 10**9,
        "created_unix_ms": NOW - 60_000,
        **over,
    }
    j = compute_pb2.ComputeJob(**fields)
    if signer is SUBMITTER:
        return sign_job(SUBMITTER, j)
    body = j.SerializeToString(deterministic=True)
    return compute_pb2.SignedJob(job=body, signature=signer.sign(b"stratos.job.v1\0" + body))


def test_an_executor_reads_the_jobs_input_and_module_at_the_payers_cost() -> None:
    payer = address_of(SUBMITTER.public_bytes)
    assert payer_for_job_read(job(), EXEC.public_bytes, INPUT, ADMITTED, NOW) == payer
    assert payer_for_job_read(job(), EXEC.public_bytes, MODULE, ADMITTED, NOW) == payer
    assert payer_for_job_read(job(payer=""), EXEC.public_bytes, INPUT, ADMITTED, NOW) == payer


@pytest.mark.parametrize(
    ("signed", "asker", "file_id", "refusal", "sentence"),
    [
        (job(BYSTANDER), EXEC, INPUT, PermissionDenied, "not signed by the submitter"),
        (job(payer="cd" * 20), EXEC, INPUT, PermissionDenied, "payer must be its submitter"),
        (job(), EXEC, "c" * 32, PermissionDenied, "the job reads no file"),
        (job(), BYSTANDER, INPUT, PermissionDenied, "not an admitted executor"),  # not chosen
        (job(executors=["index-1"]), META, INPUT, PermissionDenied, "not an admitted executor"),
        (job(), Identity.generate(), INPUT, PermissionDenied, "not an admitted executor"),
        (
            job(created_unix_ms=NOW - JOB_READ_WINDOW_MS - 1),
            EXEC,
            INPUT,
            FailedPrecondition,
            "no longer read for it",
        ),
        (job(created_unix_ms=NOW + 3600_000), EXEC, INPUT, FailedPrecondition, "outside"),
    ],
)
def test_what_is_not_a_jobs_read_is_refused(signed, asker, file_id, refusal, sentence) -> None:
    with pytest.raises(refusal) as refused:
        payer_for_job_read(signed, asker.public_bytes, file_id, ADMITTED, NOW)
    assert sentence in refused.value.message


def test_the_tickets_name_the_jobs_payer() -> None:
    from stratos.index.ticketing import TicketSigner

    signer = TicketSigner(META, "index-1", clock_ms=lambda: NOW)
    payer = payer_for_job_read(job(), EXEC.public_bytes, INPUT, ADMITTED, NOW)
    [t] = signer.for_read(EXEC.public_bytes, INPUT, [("e" * 64, 100, ["storage-1"])], payer=payer)
    opened = tickets.parse(t)
    assert opened.payer == address_of(SUBMITTER.public_bytes)
    assert opened.holder_public_key == EXEC.public_bytes  # the executor signs the receipts


@pytest.mark.integration
async def test_get_manifest_hands_a_jobs_executor_tickets_its_payer_pays(nats) -> None:
    import grpc
    import index_support
    from index_support import (
        SEGMENT,
        beating,
        build_manifest,
        heartbeat,
        new_file_id,
        running_index,
        sign,
    )

    from stratos.common.procs import async_wait_until
    from stratos.index.manifests import now_ms
    from stratos.v1 import index_pb2

    executor = index_support.mesh().storage("n1")
    bystander = index_support.mesh().storage("n2")
    owner = Identity.generate()
    async with (
        running_index(nats.url, with_tickets=True) as idx,
        beating(idx.nc, heartbeat("n1"), heartbeat("n2")),
    ):

        async def live() -> bool:
            nodes = (await idx.stub.ListNodes(index_pb2.ListNodesRequest())).nodes
            return {"n1", "n2"} <= {n.info.node_id for n in nodes}

        await async_wait_until(live, timeout_s=10, interval_s=0.05, what="n1 and n2")
        fid = new_file_id()
        manifest = sign(owner, build_manifest(fid, size=2 * SEGMENT + 9))
        await idx.stub.CommitManifest(index_pb2.CommitManifestRequest(signed=manifest))
        signed_job = job(
            inputs=[compute_pb2.JobInput(file_id=fid)],
            executors=["n1"],
            created_unix_ms=now_ms(),
        )

        def asking(who: Identity) -> index_pb2.GetManifestRequest:
            return index_pb2.GetManifestRequest(
                file_id=fid, ask=tickets.ask(who, "GetManifest", fid), job=signed_job
            )

        got = await idx.stub.GetManifest(asking(executor))
        assert got.tickets
        for t in got.tickets:
            opened = tickets.parse(t)
            assert opened.payer == address_of(SUBMITTER.public_bytes)  # the job's payer
            assert opened.holder_public_key == executor.public_bytes
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await idx.stub.GetManifest(asking(bystander))  # admitted, but not this job's
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert refused.value.details() == "the asker is not an admitted executor of this job"
        # without a job, a reader pays for its own reads
        plain = index_pb2.GetManifestRequest(
            file_id=fid, ask=tickets.ask(bystander, "GetManifest", fid)
        )
        own = await idx.stub.GetManifest(plain)
        assert {tickets.parse(t).payer for t in own.tickets} == {address_of(bystander.public_bytes)}
