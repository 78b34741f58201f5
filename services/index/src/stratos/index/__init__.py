"""Stratos index: the meta-service. It knows which storage nodes are alive (from their heartbeats),
decides where chunks go (weighted rendezvous hashing) and keeps signed file manifests. All state
lives in NATS JetStream, so any number of index replicas can serve at once."""
