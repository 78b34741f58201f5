"""The error tree drawn in `stratos.common.errors`' docstring is the real one: every StratosError
subclass in the project appears in it, under its real parent; and errors that carry fields build
their sentence from them."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

from stratos.common import errors

PACKAGES = ["stratos.common", "stratos.storage", "stratos.index", "stratos.consensus"]
PACKAGES += ["stratos.sdk", "stratos.operator"]
_BRANCH = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)")


def _drawn_tree() -> dict[str, str | None]:
    """class name -> the parent it is drawn under (None for the root)."""
    lines = errors.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("StratosError "))
    parents: dict[str, str | None] = {"StratosError": None}
    path = ["StratosError"]
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        m = _BRANCH.match(line.removeprefix("    "))
        if m is None:
            continue  # a continuation of the line above
        depth = len(m["indent"]) // 4 + 1
        path[depth:] = [m["name"]]
        parents[m["name"]] = path[depth - 1]
    return parents


def _every_error_class() -> dict[str, type[errors.StratosError]]:
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    found: dict[str, type[errors.StratosError]] = {}
    todo: list[type[errors.StratosError]] = [errors.StratosError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("stratos."):
            found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def test_the_docstring_draws_every_error_class_under_its_parent():
    drawn = _drawn_tree()
    real = _every_error_class()
    assert sorted(drawn) == sorted(real), "errors.py's drawing and the classes differ"
    for name, parent in drawn.items():
        if parent is not None:
            bases = [b.__name__ for b in real[name].__mro__[1:]]
            assert parent in bases, f"{name} is drawn under {parent}, but derives from {bases}"


@pytest.mark.parametrize(
    ("err", "fields", "sentence"),
    [
        (
            errors.ChunkNotFound("ab" * 32, "node-a"),
            {"chunk_id": "ab" * 32, "node_id": "node-a"},
            f"chunk {'ab' * 32} is not stored on node-a",
        ),
        (
            errors.ChunkCorrupt("ab" * 32, "node-a"),
            {"chunk_id": "ab" * 32, "node_id": "node-a"},
            f"chunk {'ab' * 32} on node-a is corrupt",
        ),
        (
            errors.TooLarge("chunk c", 2048, 1024, holder="storage node n", unit=" bytes"),
            {"what": "chunk c", "value": 2048, "limit": 1024},
            "chunk c is 2048 bytes; storage node n accepts at most 1024 bytes",
        ),
        (
            errors.Unreachable("10.0.0.1:7000"),
            {"address": "10.0.0.1:7000"},
            "cannot reach the service at 10.0.0.1:7000; is it running?",
        ),
        (
            errors.UnknownVariable(
                ["STRATOS_NATS_URLS"], {"STRATOS_NATS_URLS": "STRATOS_NATS_URL"}
            ),
            {"variables": ("STRATOS_NATS_URLS",)},
            "STRATOS_NATS_URLS (did you mean STRATOS_NATS_URL?) is set, but no Stratos setting "
            "reads it; correct or unset it",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_errors_with_fields_build_their_sentence_from_them(err, fields, sentence):
    assert {k: getattr(err, k) for k in fields} == fields
    assert str(err).startswith(sentence) and err.message == str(err)
