"""The kopf edge: handlers registered for every trigger, kopf's bookkeeping kept out of status,
and the operator's settings refusing bad values with the variable's name."""

from __future__ import annotations

import logging

import kopf
import pytest
from fake_kube import FakeKube
from operator_support import cluster_body

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError
from stratos.operator import handlers
from stratos.operator.config import OperatorSettings


def test_every_trigger_reaches_the_reconcile_pass():
    registry = kopf.OperatorRegistry()
    handlers.register(registry, OperatorSettings(), FakeKube())
    changing = registry._changing.get_all_handlers()
    assert {"create", "update"} <= {str(h.reason.value) for h in changing if h.reason}
    assert any(h.initial for h in changing)  # resume: clusters found when the operator starts
    (timer,) = registry._spawning.get_all_handlers()
    assert (timer.interval, timer.idle) == (10.0, 1)
    assert not any(
        h.reason and str(h.reason.value) == "delete" for h in registry._changing.get_all_handlers()
    )


def test_kopf_bookkeeping_lives_in_annotations_not_status():
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert settings.persistence.progress_storage.prefix == "stratos.io"
    assert settings.persistence.finalizer.startswith("stratos.io/")
    assert settings.peering.standalone is True


def test_settings_name_the_bad_variable(monkeypatch):
    monkeypatch.setenv("STRATOS_HEAL_INTERVAL_S", "0")
    with pytest.raises(ConfigError, match="STRATOS_HEAL_INTERVAL_S"):
        load_settings(OperatorSettings)


def test_default_images_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STRATOS_IMAGE_STORAGE", "registry.local/stratos-storage:abc")
    assert load_settings(OperatorSettings).default_images.storage == (
        "registry.local/stratos-storage:abc"
    )


def test_an_empty_variable_is_unset_and_blanks_are_refused(monkeypatch):
    monkeypatch.setenv("STRATOS_IMAGE_STORAGE", "")
    monkeypatch.setenv("STRATOS_HEAL_INTERVAL_S", "")
    settings = load_settings(OperatorSettings)
    assert settings.default_images.storage == OperatorSettings().default_images.storage
    assert settings.heal_interval_s == 10.0
    monkeypatch.setenv("STRATOS_INDEX_ADDRESS", "   ")
    with pytest.raises(ConfigError, match=r"STRATOS_INDEX_ADDRESS: .*blanks"):
        load_settings(OperatorSettings)


def _handler(registry, reason):
    return next(
        h.fn
        for h in registry._changing.get_all_handlers()
        if h.reason and str(h.reason.value) == reason
    )


async def test_the_create_handler_writes_status_through_kopfs_patch_and_posts_events(monkeypatch):
    posted = []
    monkeypatch.setattr(kopf, "event", lambda body, **kw: posted.append(kw["reason"]))
    registry, kube = kopf.OperatorRegistry(), FakeKube()
    handlers.register(registry, OperatorSettings(), kube)
    patch = kopf.Patch()
    body = kopf.Body(cluster_body())
    await _handler(registry, "create")(body=body, patch=patch, logger=logging.getLogger())
    assert patch["status"]["phase"] == "Ready"
    assert "kopf" not in patch["status"]
    assert posted == ["Created", "PhaseReady"]
    assert kube.find("StatefulSet", "demo-storage")


async def test_a_bad_spec_is_a_permanent_error_with_a_warning(monkeypatch):
    posted = []
    monkeypatch.setattr(kopf, "event", lambda body, **kw: posted.append((kw["type"], kw["reason"])))
    registry, kube = kopf.OperatorRegistry(), FakeKube()
    handlers.register(registry, OperatorSettings(), kube)
    patch = kopf.Patch()
    body = kopf.Body(cluster_body({"storage": {"replicas": 1}, "replication": 3}))
    with pytest.raises(kopf.PermanentError, match=r"spec\.storage\.replicas"):
        await _handler(registry, "update")(body=body, patch=patch, logger=logging.getLogger())
    assert patch["status"]["phase"] == "Invalid"
    assert posted == [("Warning", "InvalidSpec")]
    assert kube.objects == {}
