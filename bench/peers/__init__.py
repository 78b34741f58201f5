"""`make bench-peers`: Stratos side by side with SeaweedFS and Tahoe-LAFS (issue 12, part 5).

The peers come from their PyPI wheels into an environment of their own (`environment`), each
starts on loopback with three copies of every file (`seaweedfs`, `tahoe`, `mesh` for Stratos),
one persistent client process per system answers the workloads (`protocol`, `worker_http`,
`worker_stratos`), `workloads` runs them interleaved and `report` turns the medians into the
ratios the issue asks for. `python -m bench.peers` runs it all."""
