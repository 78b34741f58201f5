"""Every `STRATOS_*` environment variable the project reads, and the check that refuses others.

A misspelt variable (`STRATOS_NATS_URLS=...`) would otherwise be ignored in silence and its
default used instead, so every process refuses to start while one is set, naming it and the
closest real name. "Unknown" has to mean unknown to the whole project, not to the process that
looks: the local launcher and a Kubernetes pod hand one environment to processes that each read a
part of it (a storage node sees the index's `STRATOS_SUSPECT_AFTER_S` when launched from a shell
that set it). This module cannot learn the names from the services' settings classes at run
time — `stratos.common` imports no service, and a storage image holds no index code — so the
names are listed here, grouped by who reads them, and `test_variables.py` keeps the list equal to
the settings classes' fields, the CLI's and the tooling's reads, and what the launcher and the
operator hand to processes.

Names under `STRATOS_TEST_` are reserved for test harnesses and never checked; nothing under
`src/` may read one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from stratos.common.errors import UnknownVariable

PREFIX = "STRATOS_"
TEST_PREFIX = "STRATOS_TEST_"

READ_BY: Mapping[str, frozenset[str]] = {
    # stratos.common.config.ServiceSettings: every service
    "every service": frozenset(
        {
            "STRATOS_ADVERTISE_ADDRESS",
            "STRATOS_GRPC_ADDRESS",
            "STRATOS_HEALTH_ADDRESS",
            "STRATOS_LOG_LEVEL",
            "STRATOS_NATS_NKEY_FILE",
            "STRATOS_NATS_REPLICAS",
            "STRATOS_NATS_TLS_CA_FILE",
            "STRATOS_NATS_URL",
            "STRATOS_SHUTDOWN_GRACE_S",
            "STRATOS_TLS_CA_FILE",
            "STRATOS_TLS_CERT_FILE",
            "STRATOS_TLS_KEY_FILE",
        }
    ),
    # stratos.common.admission_source.AdmissionSettings: the storage nodes, the index and the
    # incentive service
    "storage and index (admission)": frozenset(
        {
            "STRATOS_ADMIN_KEY",
            "STRATOS_ADMISSION_FILE",
            "STRATOS_MESH_ID",
        }
    ),
    # stratos.storage.config.StorageSettings
    "storage": frozenset(
        {
            "STRATOS_CAPACITY_BYTES",
            "STRATOS_DATA_DIR",
            "STRATOS_HEARTBEAT_INTERVAL_S",
            "STRATOS_MAX_ACTIVE_PUTS",
            "STRATOS_MAX_CHUNK_BYTES",
            "STRATOS_NODE_ID",
            "STRATOS_NODE_KEY_FILE",
            "STRATOS_REPAIR_ACK_WAIT_S",
            "STRATOS_REPAIR_BUSY_RATE_BYTES_S",
            "STRATOS_REPAIR_CONCURRENCY",
            "STRATOS_REPAIR_MAX_DELIVER",
            "STRATOS_REPAIR_RATE_BYTES_S",
            "STRATOS_ZONE",
        }
    ),
    # stratos.index.config.IndexSettings
    "index": frozenset(
        {
            "STRATOS_CONSENSUS_ADDRESSES",
            "STRATOS_AUDITS_PER_ROUND",
            "STRATOS_AUDIT_INTERVAL_S",
            "STRATOS_AUDIT_TIMEOUT_S",
            "STRATOS_EXPIRY_INTERVAL_S",
            "STRATOS_GC_CHUNKS_PER_S",
            "STRATOS_GC_GRACE_S",
            "STRATOS_GC_INTERVAL_S",
            "STRATOS_IDENTITY_FILE",
            "STRATOS_LOST_AFTER_S",
            "STRATOS_MAX_REPLICAS",
            "STRATOS_NATS_CONNECT_TIMEOUT_S",
            "STRATOS_NODE_ID",
            "STRATOS_REPAIR_BATCH_FROM",
            "STRATOS_REPAIR_INTERVAL_S",
            "STRATOS_REPAIR_JOB_TIMEOUT_S",
            "STRATOS_REPAIR_MAX_OUTSTANDING",
            "STRATOS_REPAIR_PLAN_RATE_BYTES_S",
            "STRATOS_REPAIR_SWEEP_FILES_PER_ROUND",
            "STRATOS_REPAIR_SWEEP_INTERVAL_S",
            "STRATOS_SEGMENT_SIZE_BYTES",
            "STRATOS_SUSPECT_AFTER_S",
        }
    ),
    # stratos.consensus.config.ConsensusSettings
    "consensus": frozenset(
        {
            "STRATOS_CREATE_EMPTY_BLOCKS_INTERVAL_S",
            "STRATOS_DATA_DIR",
            "STRATOS_GENESIS_FILE",
            "STRATOS_GOSSIP_INTERVAL_S",
            "STRATOS_MAX_BLOCK_TXS",
            "STRATOS_MEMPOOL_MAX_TXS",
            "STRATOS_PEERS",
            "STRATOS_PEER_QUEUE_SIZE",
            "STRATOS_PROPOSE_DELAY_S",
            "STRATOS_SYNC_INTERVAL_S",
            "STRATOS_TIMEOUT_DELTA_S",
            "STRATOS_TIMEOUT_PRECOMMIT_S",
            "STRATOS_TIMEOUT_PREVOTE_S",
            "STRATOS_TIMEOUT_PROPOSE_S",
            "STRATOS_VALIDATOR_KEY_FILE",
        }
    ),
    # stratos.incentive.config.IncentiveSettings
    "incentive": frozenset(
        {
            "STRATOS_CONSENSUS_ADDRESSES",
            "STRATOS_IDENTITY_FILE",
            "STRATOS_NODE_ID",
            "STRATOS_POLL_INTERVAL_S",
            "STRATOS_REPORT_FEE_NSTOS",
            "STRATOS_STREAM_MAX_AGE_S",
            "STRATOS_SUBMIT_STAGGER_S",
        }
    ),
    # stratos.operator.config.OperatorSettings
    "operator": frozenset(
        {
            "STRATOS_DRAIN_TIMEOUT_S",
            "STRATOS_HEAL_INTERVAL_S",
            "STRATOS_IMAGE_CONSENSUS",
            "STRATOS_IMAGE_INCENTIVE",
            "STRATOS_IMAGE_INDEX",
            "STRATOS_IMAGE_NATS",
            "STRATOS_IMAGE_STORAGE",
            "STRATOS_INDEX_ADDRESS",
            "STRATOS_LIVENESS_PORT",
            "STRATOS_LOG_LEVEL",
            "STRATOS_METRICS_PORT",
            "STRATOS_WATCH_NAMESPACE",
        }
    ),
    # the `stratos` CLI and the SDK, through stratos.common.env
    "the stratos CLI": frozenset(
        {
            "STRATOS_CONSENSUS_ADDRESS",
            "STRATOS_DEBUG",
            "STRATOS_HOME",
            "STRATOS_INDEX_ADDRESS",
            "STRATOS_LOG_LEVEL",
            "STRATOS_TLS_CA_FILE",
            "STRATOS_TLS_CERT_FILE",
            "STRATOS_TLS_KEY_FILE",
        }
    ),
    # CI (.ci/run), the cluster tier (cluster/) and the tool builds under hack/: a developer's
    # shell may hold them while it runs a local mesh
    "the build and test tooling": frozenset(
        {
            "STRATOS_CLUSTER_DIR",
            "STRATOS_CRASHFS_CACHE",
            "STRATOS_REQUIRE_ALL_TIERS",
            "STRATOS_TOOLS_CACHE",
            "STRATOS_TOOLS_JOBS",
            "STRATOS_TOOLS_NICE",
        }
    ),
}
KNOWN: frozenset[str] = frozenset().union(*READ_BY.values())


def unknown(environ: Iterable[str], *, also: Iterable[str] = ()) -> list[str]:
    """The `STRATOS_*` names in `environ` that nothing reads (`also`: more names to accept,
    such as the fields of a settings class that is not one of the project's own)."""
    known = KNOWN.union(n.upper() for n in also)
    return sorted(
        name
        for name in environ
        if name.upper().startswith(PREFIX)
        and not name.upper().startswith(TEST_PREFIX)
        and name.upper() not in known
    )


def refuse_unknown(environ: Mapping[str, str] | None = None, *, also: Iterable[str] = ()) -> None:
    """Raise UnknownVariable naming every `STRATOS_*` variable that nothing reads, each with the
    closest real name when there is one."""
    names = unknown(os.environ if environ is None else environ, also=also)
    if not names:
        return
    import difflib  # only on the way to an error: the CLI checks at every start

    known = KNOWN.union(n.upper() for n in also)
    # Compared without the shared prefix, which would make every name look alike.
    tails = {k.removeprefix(PREFIX): k for k in known}
    suggestions = {}
    for name in names:
        close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), tails, n=1)
        if close:
            suggestions[name] = tails[close[0]]
    raise UnknownVariable(names, suggestions)
