"""The size limits every process must agree on, kept in one place because each one bounds
another: a segment must fit a storage node's largest chunk, a file's segments must fit the one
NATS message its manifest is stored in, and that manifest must fit a gRPC answer beside its
locations. When two of these lived apart they drifted (a 64 MiB segment stored 64 MiB + 16 bytes,
one tag more than a node accepted). Plain numbers, no imports, so anything may use them.

Segment sizes (plaintext bytes per segment):

- at least 64 KiB: every segment costs a placement call, one upload per copy, an fsync on each
  node and a manifest entry of about 100-300 bytes. Below 64 KiB that overhead, not the bytes,
  sets a put's speed (a 50 MiB file in 1-byte segments ran for minutes), and the manifest limit
  below would cap files at a few hundred MiB.
- at most 64 MiB: a put keeps `parallelism` segments in memory, each also encrypted (and coded),
  so 4 in flight already hold about half a GiB. Segments travel in 1 MiB pieces, so the gRPC
  message limit does not bound them; the storage node's chunk limit does (`MAX_CHUNK_BYTES`).

Manifests: the index keeps a file's signed manifest as one value in a JetStream KV bucket, so it
must fit one NATS message (`NATS_MAX_PAYLOAD_BYTES`, set in every nats-server config we write —
the server's own default is 1 MiB). The file's locations record (same chunks, each holder listed
again, one more during a repair or drain: at most ~1.5x the manifest's bytes) is a second value
of the same kind, and `GetManifest` returns both in one gRPC message. Half the NATS limit keeps
all three inside their limits.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

GRPC_MAX_MESSAGE_BYTES = 16 * MIB
"""Largest gRPC message any of our channels or servers sends or receives."""

NATS_MAX_PAYLOAD_BYTES = 8 * MIB
"""`max_payload` of every nats-server we configure (NATS advises against more than 8 MiB)."""

GCM_TAG_BYTES = 16
"""What encryption adds to a segment: its stored chunk is plaintext + this."""

MIN_SEGMENT_BYTES = 64 * KIB
MAX_SEGMENT_BYTES = 64 * MIB

MAX_CHUNK_BYTES = MAX_SEGMENT_BYTES + GCM_TAG_BYTES
"""The largest chunk a file of ours can need: one whole segment with its tag (a share of an
erasure-coded segment is smaller)."""

MAX_MANIFEST_BYTES = NATS_MAX_PAYLOAD_BYTES // 2
"""Largest signed manifest (the serialized SignedManifest the index stores) the index accepts."""

MAX_NODE_ID_CHARS = 64
NODE_ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_NODE_ID_CHARS}}}$"
"""A storage node's ID: a NATS subject token (stratos.node.heartbeat.<node_id>, so no dots or
wildcards) of at most MAX_NODE_ID_CHARS letters, digits, '_' and '-'."""

MAX_NAME_CHARS = 255
"""A file's display name, in characters."""

MAX_SHARES = 32
"""k + m of an erasure code: keeps a segment's shares on a plausible number of distinct nodes.
Here rather than in `erasure` so that a process which never codes (a storage node checking a
re-encode job) can bound it without loading the codec."""

MAX_REPLICAS = 64
"""The most copies per chunk anything in the mesh accepts: the CLI's --replicas, the SDK, and the
index (its STRATOS_MAX_REPLICAS setting may only lower it). A manifest asking for more is
refused before anything sizes a list by it."""
