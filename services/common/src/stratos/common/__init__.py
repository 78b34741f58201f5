"""Shared library of every Stratos service: config, logging, tracing, NATS, gRPC, identities,
errors. Services depend on this package and on the generated contracts, never on each other."""

__version__ = "0.1.0"
