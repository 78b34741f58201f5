"""Stratos storage node: a content-addressed store of encrypted chunks, served over gRPC and
announced to the mesh by NATS heartbeats."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stratos-storage")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
