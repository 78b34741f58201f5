"""Deferred imports, so every `stratos` command starts in a fraction of a second (issue 9).

The command modules name things that cost tenths of a second to import — rich's tables, the
launcher (psutil), the client (grpc, protobuf, cryptography) — while `stratos --help` needs none
of them and each command only some. `module(name)` hands back the module at once and loads it
on first attribute access (importlib's LazyLoader), so call sites keep reading `render.x()`;
`LazyConsole` is a rich console built on first use. A test guards the start-up's imports
(`test_cli_startup.py`)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any


def module(name: str) -> ModuleType:
    """The module `name`, loaded when one of its attributes is first read."""
    if (loaded := sys.modules.get(name)) is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)
    return mod


class LazyConsole:
    """A `rich.console.Console(**options)` made when first used; `.console` is the real one,
    for the rich objects (progress bars) that need it rather than a stand-in."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console as RichConsole

            self._console = RichConsole(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)
