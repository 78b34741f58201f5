"""Builders for planner and health tests: meshes of nodes, replicated and coded files whose
pieces sit on given nodes."""

from __future__ import annotations

import hashlib

from stratos.index.registry import LIVE
from stratos.index.repair_plan import FileView, NodeView
from stratos.v1 import types_pb2

GIB = 1 << 30


def cid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def mesh(n: int, zones: int = 1, **states: int) -> dict[str, NodeView]:
    return {
        f"n{i}": NodeView(
            f"n{i}",
            f"10.0.0.{i}:7000",
            f"z{i % zones}",
            states.get(f"n{i}", LIVE),
            10 * GIB,
            9 * GIB,
        )
        for i in range(n)
    }


def coded(file_no: int, k: int, m: int, shares: list[tuple[str, list[str]]]) -> FileView:
    """A one-segment coded file; `shares` are (chunk ID, holders) per share index."""
    seg = types_pb2.Segment(
        index=0,
        plain_size=100,
        stored_size=116,
        shares=[
            types_pb2.Share(index=i, chunk_id=c, size=116 // k, node_ids=nodes)
            for i, (c, nodes) in enumerate(shares)
        ],
    )
    man = types_pb2.Manifest(
        file_id=f"{file_no:032x}",
        replicas=1,
        segments=[seg],
        erasure=types_pb2.ErasureCode(data_shares=k, parity_shares=m),
    )
    return FileView(man)


def replicated(file_no: int, r: int, segments: list[tuple[str, list[str]]]) -> FileView:
    man = types_pb2.Manifest(
        file_id=f"{file_no:032x}",
        replicas=r,
        segments=[
            types_pb2.Segment(index=i, chunk_id=c, plain_size=100, stored_size=116, node_ids=nodes)
            for i, (c, nodes) in enumerate(segments)
        ],
    )
    return FileView(man)


def one_plus(m: int, nodes: list[str]) -> FileView:
    """A 1+m file: every share is the whole segment, so every share has the same chunk ID."""
    same = cid("one segment")
    return coded(1, 1, m, [(same, [n]) for n in nodes[: m + 1]])
