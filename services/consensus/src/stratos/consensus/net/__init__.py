"""The node's process edges: the gRPC servicers, the links to peer validators, block sync and
the process entry point (`main`). Only translation and I/O here; decisions live in `node`."""
