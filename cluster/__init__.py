"""The cluster tier: a local Kubernetes control plane (`python -m cluster up|down|status`) and
the tests that run the chart and the operator against it (`make test-cluster`)."""
