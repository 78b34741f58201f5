"""CommitManifest over gRPC refuses what the SDK would have refused before a put: segments out
of bounds, more segments than one manifest names — a hostile client need not use our SDK."""

from __future__ import annotations

import grpc
import pytest
from index_support import SEGMENT, build_manifest, new_file_id, running_index, sign

from stratos.common.identity import Identity
from stratos.common.segment_limits import max_segments
from stratos.v1 import index_pb2

pytestmark = pytest.mark.integration


async def commit_error(stub, manifest) -> grpc.aio.AioRpcError:
    signed = sign(Identity.generate(), manifest)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CommitManifest(index_pb2.CommitManifestRequest(signed=signed))
    return err.value


async def test_commit_refuses_segments_out_of_bounds_and_too_many_with_a_sentence(nats) -> None:
    async with running_index(nats.url) as idx:
        err = await commit_error(idx.stub, build_manifest(new_file_id(), size=3, segment_size=1))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == "the segment size must be between 64 KiB and 64 MiB, not 1 byte"

        n = max_segments(2) + 1
        many = build_manifest(new_file_id(), size=n * SEGMENT, segment_size=SEGMENT)
        err = await commit_error(idx.stub, many)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"needs {n} segments, but a manifest names at most {n - 1}" in err.details()

        listed = await idx.stub.ListFiles(index_pb2.ListFilesRequest())
        assert list(listed.files) == []
