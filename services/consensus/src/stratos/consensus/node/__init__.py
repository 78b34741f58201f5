"""One validator: the `Node` that joins the BFT engine, the ledger and the block store, with its
collaborators (network, timers, evidence reporting) given as ports so a simulator can drive it.
The store, the codec between the engine's values and stored bytes, and the commit waiters live
here too."""

from stratos.consensus.node.runtime import Node

__all__ = ["Node"]
