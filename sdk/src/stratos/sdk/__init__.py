"""The Stratos Python SDK, the `stratos` CLI and the local-mesh launcher."""
