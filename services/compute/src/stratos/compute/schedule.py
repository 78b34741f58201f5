"""What the scheduler does next with one job (pure): which executors run it now, which runs
to give up on, and when the job is decided.

A job names more executors than it needs: `replicas` = r runs must be made, and the submitter
sealed the keys to r + s candidates (`job.executors`, best placed first), so that when a worker
dies mid-run the job is run again on a spare without going back to its submitter. The
scheduler keeps, per job, which candidates were handed the job and when; `step` then says:
- start: hand the job to the next unused candidates until r runs are in flight or done;
- give up: a run not attested within `run_timeout_ms` counts as lost, its candidate is not
  asked again, and a spare takes its place;
- decide: when the attestations so far make the verdict final (`attestations.agree`): accepted
  (a majority of r agree), or failed — "no agreement" when the runs disagree, or "ran out of
  executors" when too few candidates are left to reach a majority.
Each run is started once per candidate and a decided job starts nothing more, so a job
completes once however many times a scheduler replica replays its state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from stratos.common.attestations import Agreement, agree, outcome_key
from stratos.v1 import compute_pb2


@dataclass(frozen=True)
class Run:
    executor: str
    started_ms: int
    lost: bool = False


@dataclass(frozen=True)
class JobState:
    job: compute_pb2.ComputeJob
    runs: tuple[Run, ...] = ()
    attested: tuple[compute_pb2.Attestation, ...] = ()
    verdict: str = ""  # "": open; "accepted" or the failure's sentence


@dataclass(frozen=True)
class Step:
    state: JobState
    start: tuple[str, ...] = ()  # hand the job to these executors now
    agreement: Agreement | None = None  # set once the job is decided
    lost: tuple[str, ...] = field(default=())  # runs given up on in this step


def attest(state: JobState, a: compute_pb2.Attestation) -> JobState:
    """`state` with `a` (already signature-checked) recorded: once per executor, and only from
    an executor the job was handed to (a run given up on still counts when it comes in)."""
    if state.verdict or any(x.executor == a.executor for x in state.attested):
        return state
    if a.executor not in {r.executor for r in state.runs}:
        return state
    return replace(state, attested=(*state.attested, a))


def step(state: JobState, now_ms: int, run_timeout_ms: int) -> Step:
    """The next moves for `state` at `now_ms`."""
    if state.verdict:
        return Step(state)
    job = state.job
    done = {a.executor for a in state.attested}
    lost = tuple(
        r.executor
        for r in state.runs
        if not r.lost and r.executor not in done and now_ms - r.started_ms >= run_timeout_ms
    )
    runs = tuple(replace(r, lost=True) if r.executor in lost else r for r in state.runs)
    state = replace(state, runs=runs)

    verdict = agree(job, list(state.attested))
    if verdict.agreed:
        return Step(replace(state, verdict="accepted"), agreement=verdict, lost=lost)

    in_flight = [r for r in runs if not r.lost and r.executor not in done]
    asked = {r.executor for r in runs}
    spares = [e for e in job.executors if e not in asked]
    # r runs are made, no more: spares replace lost runs, they do not break a tie
    start = tuple(spares[: max(0, job.replicas - len(in_flight) - len(done))])
    need = job.replicas // 2 + 1
    if verdict.largest + len(in_flight) + len(start) < need:
        # the runs that came back disagree, or too many were lost for a majority to form
        why = "no agreement" if _disagree(state) else "ran out of executors"
        return Step(replace(state, verdict=why), agreement=verdict, lost=lost)
    runs = (*runs, *(Run(e, now_ms) for e in start))
    return Step(replace(state, runs=runs), start=start, lost=lost)


def _disagree(state: JobState) -> bool:
    return len({outcome_key(a) for a in state.attested}) > 1
