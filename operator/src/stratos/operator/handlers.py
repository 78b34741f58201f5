"""kopf handlers: the thin edge between kopf and `reconcile`.

create / update / resume and a timer all run the same idempotent pass; the timer is what heals
drift (a deleted or edited child comes back within `STRATOS_HEAL_INTERVAL_S`). Deletion needs no
handler: every child carries an owner reference, and the garbage collector removes it.

kopf's own bookkeeping (progress, last-handled spec) is kept in annotations under `stratos.io/`,
never in `.status`, which belongs to the cluster's users; handlers return nothing for the same
reason (kopf would store a return value in status).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import kopf

from stratos.common.errors import StratosError
from stratos.operator import meshcerts, metrics
from stratos.operator.builders.meta import PORT_INDEX
from stratos.operator.builders.spec import GROUP, PLURAL, VERSION, SpecError
from stratos.operator.config import OperatorSettings
from stratos.operator.drain import IndexDrainer
from stratos.operator.kube import Kube
from stratos.operator.reconcile import reconcile
from stratos.operator.scaledown import FORCE_ANNOTATION

RETRY_DELAY_S = 10


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings for this operator (also used by the unit test that checks them)."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="stratos.io", v1=False
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="stratos.io", key="last-handled-configuration", v1=False
    )
    settings.persistence.finalizer = "stratos.io/operator"
    # one replica (Recreate): no peering objects, no CRD watching (discovery is enough, and it
    # needs no RBAC beyond what the chart grants)
    settings.peering.standalone = True
    settings.scanning.disabled = True
    settings.posting.level = 20  # INFO and up become Events
    settings.watching.server_timeout = 300


def register(registry: kopf.OperatorRegistry, config: OperatorSettings, kube: Kube) -> None:
    """Register the handlers on `registry` (main uses its own, tests a fresh one)."""
    locks: dict[str, asyncio.Lock] = {}

    @kopf.on.startup(registry=registry)
    def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)

    # kopf puts its default login handlers on its global registry only; without this one an
    # operator on its own registry has no credentials at all (in a pod or with KUBECONFIG)
    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    async def _pass(trigger: str, body: kopf.Body, patch: kopf.Patch, logger: Any) -> None:
        uid = body.metadata.uid or f"{body.metadata.namespace}/{body.metadata.name}"
        lock = locks.setdefault(uid, asyncio.Lock())
        started = time.monotonic()
        namespace, name = body.metadata.namespace, body.metadata.name

        def emit(type_: str, reason: str, message: str) -> None:
            kopf.event(body, type=type_, reason=reason, message=message)

        async with lock:  # the timer and a change handler must not interleave
            try:
                outcome = await reconcile(
                    body,
                    kube=kube,
                    drainer_for=lambda certs, admin: IndexDrainer(
                        config.index_address or f"{name}-index.{namespace}.svc:{PORT_INDEX}",
                        meshcerts.credentials(certs),
                        admin,
                        timeout_s=config.drain_timeout_s,
                    ),
                    emit=emit,
                    defaults=config.default_images,
                    now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            except SpecError as err:
                metrics.RECONCILES.labels(trigger, "invalid_spec").inc()
                emit("Warning", "InvalidSpec", str(err))
                patch.status["phase"] = "Invalid"
                raise kopf.PermanentError(str(err)) from None
            except StratosError as err:
                metrics.RECONCILES.labels(trigger, "retry" if err.retryable else "error").inc()
                emit("Warning", "ReconcileFailed", str(err))
                raise kopf.TemporaryError(str(err), delay=RETRY_DELAY_S) from None
            finally:
                metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        metrics.RECONCILES.labels(trigger, "ok").inc()
        for change in ("created", "updated", "removed"):
            metrics.CHILD_CHANGES.labels(change).inc(len(getattr(outcome, change)))
        metrics.CLUSTER_READY.labels(namespace, name).set(outcome.status["phase"] == "Ready")
        for key, value in outcome.status.items():
            patch.status[key] = value
        logger.debug(f"reconciled: {outcome.status['phase']}")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    async def on_create(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        await _pass("create", body, patch, logger)

    # status changes (ours, every pass) must not re-trigger: only spec and metadata count
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field="spec")
    async def on_update(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        await _pass("update", body, patch, logger)

    @kopf.on.field(GROUP, VERSION, PLURAL, registry=registry, field="metadata.annotations")
    async def on_annotations(
        body: kopf.Body, patch: kopf.Patch, logger: Any, old: Any, new: Any, **_: Any
    ) -> None:
        if _force_flag(old) != _force_flag(new):  # the scale-down override was set or cleared
            await _pass("annotation", body, patch, logger)

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    async def on_resume(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        await _pass("resume", body, patch, logger)

    # idle=1: the pass after a change waits only a second (the lock keeps passes apart); with
    # kopf's 5 s a cluster turned Ready ~4 s after its pods did
    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=config.heal_interval_s, idle=1)
    async def heal(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        await _pass("timer", body, patch, logger)


def _force_flag(annotations: Any) -> str:
    return str((annotations or {}).get(FORCE_ANNOTATION, ""))
