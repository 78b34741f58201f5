"""Operator figures (issue 5) on a real local control plane with kwok nodes (cluster/), the
operator as a local process, every process of it ended before `measure` returns.

- `operator.ready_s_{3,30,100}`: seconds from `kubectl apply` of a StratosCluster (3 NATS, 2
  index, N storage nodes, no validators) to its `.status.phase` being Ready. The bound is
  the same run's time until every pod it wants is Ready in the API server (what the control
  plane and kwok take on their own), so the ratio shows what the operator adds. The operator
  only notices pods through its drift timer (it does not watch its children), run here every
  STRATOS_HEAL_INTERVAL_S = 1 s once the object has been quiet for kopf's `idle` of 1 s: that
  lag is part of the figure.
- `operator.cpu_s_per_reconcile`: the operator process's CPU seconds (its Prometheus
  `process_cpu_seconds_total`) over its reconcile passes (`stratos_operator_reconciles_total`),
  from after start-up to the end of the three runs (timer passes on 3-, 30- and 100-node
  clusters included).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.results import Figure
from cluster.controlplane import READY_JSONPATH, ControlPlane, bin_dir
from cluster.harness import Operator, install_chart

SIZES = (3, 30, 100)
NS = "bench"
READY_TIMEOUT_S = 300
GONE_TIMEOUT_S = 180


def _manifest(name: str, storage: int) -> str:
    return json.dumps(
        {
            "apiVersion": "stratos.io/v1alpha1",
            "kind": "StratosCluster",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "replication": 3,
                "nats": {"replicas": 3},
                "index": {"replicas": 2},
                "storage": {"replicas": storage, "size": "10Gi", "zones": ["a", "b", "c"]},
                "validators": {"replicas": 0},
            },
        }
    )


def _ready_once(cp: ControlPlane, name: str, pods_wanted: int) -> tuple[float, float]:
    """(seconds to phase Ready, seconds to every pod Ready) from the apply."""
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", stdin=_manifest(name, pods_wanted - 5))
    pods_at = phase_at = None
    while phase_at is None or pods_at is None:
        now = time.monotonic() - t0
        if now > READY_TIMEOUT_S:
            raise TimeoutError(f"{name} was not Ready within {READY_TIMEOUT_S}s")
        if phase_at is None:
            phase = cp.kubectl(
                "get", "stratoscluster", name, "-n", NS, "-o", "jsonpath={.status.phase}"
            ).stdout
            if phase == "Ready":
                phase_at = now
        if pods_at is None:
            ready = cp.kubectl(
                "get",
                "pods",
                "-n",
                NS,
                "-l",
                f"app.kubernetes.io/instance={name}",
                "-o",
                READY_JSONPATH,
            ).stdout.split()
            if sum(s == "True" for s in ready) >= pods_wanted:
                pods_at = now
        time.sleep(0.25)
    return phase_at, min(pods_at, phase_at)


def _delete(cp: ControlPlane, name: str) -> None:
    cp.kubectl(
        "delete",
        "stratoscluster",
        name,
        "-n",
        NS,
        f"--timeout={GONE_TIMEOUT_S}s",
        timeout_s=GONE_TIMEOUT_S + 10,
    )
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while cp.kubectl("get", "pods,pvc", "-n", NS, "-o", "name").stdout.strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}'s pods and claims were not gone in {GONE_TIMEOUT_S}s")
        time.sleep(1)


def _delta(start: dict[str, float], end: dict[str, float], metric: str) -> float:
    # a labelled counter has no sample before its first increment
    return end.get(metric, 0.0) - start.get(metric, 0.0)


def measure(work: Path) -> list[Figure]:
    print("operator: the control-plane tools (hack/cluster-tools/build.sh) ...", flush=True)
    cp = ControlPlane(work / "controlplane", bin_dir(build=True))
    print("operator: starting a local control plane (kwok nodes) ...", flush=True)
    cp.up(nodes_per_zone=1, volumes=sum(SIZES) + 3 * len(SIZES) + 10, wait_s=180)
    figures: list[Figure] = []
    op: Operator | None = None
    try:
        install_chart(cp)
        cp.kubectl("create", "namespace", NS)
        op = Operator(cp, work / "operator.log", env={"STRATOS_HEAL_INTERVAL_S": "1"}).start()
        start = op.metrics()
        for n in SIZES:
            name = f"bench-{n}"
            print(f"operator: {n} storage nodes ...", flush=True)
            ready_s, pods_s = _ready_once(cp, name, n + 5)
            print(f"operator: {name} Ready after {ready_s:.1f}s (pods {pods_s:.1f}s)", flush=True)
            figures.append(Figure.against(f"operator.ready_s_{n}", ready_s, "s", pods_s, ""))
            _delete(cp, name)
        end = op.metrics()
        passes = _delta(start, end, "stratos_operator_reconciles_total")
        cpu = _delta(start, end, "process_cpu_seconds_total")
        print(f"operator: {cpu:.1f} CPU s over {passes:.0f} reconcile passes", flush=True)
        figures.append(
            Figure("operator.cpu_s_per_reconcile", round(cpu / max(passes, 1), 4), "s", None, None)
        )
    finally:
        if op is not None:
            op.stop()
        cp.purge()
    return figures


if __name__ == "__main__":
    import tempfile

    from bench import results

    figs = measure(Path(tempfile.mkdtemp(prefix="stratos-bench-operator-")))
    results.show(figs)
