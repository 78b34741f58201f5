"""The scheduler's moves for one job (stratos.compute.schedule): r runs on the best-placed
candidates, a lost run replaced by a spare, a majority accepted once, disagreement and lost
executors failing with their sentence, and nothing started twice."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.compute.schedule import JobState, attest, step
from stratos.v1 import compute_pb2

T = 60_000  # a run's timeout
MODULE = os.urandom(32)


def job(r: int = 3, candidates: int = 5) -> compute_pb2.ComputeJob:
    return compute_pb2.ComputeJob(
        job_id=b"j" * 16,
        module_hash=MODULE,
        replicas=r,
        executors=[f"s{i}" for i in range(candidates)],
    )


def att(executor: str, output: bytes = b"ok") -> compute_pb2.Attestation:
    return compute_pb2.Attestation(
        job_id=b"j" * 16, executor=executor, module_hash=MODULE, ok=True, output_hash=output
    )


def test_r_runs_start_on_the_first_candidates_and_a_majority_is_accepted_once() -> None:
    s = step(JobState(job()), 0, T)
    assert s.start == ("s0", "s1", "s2")
    state = s.state
    assert step(state, 10, T).start == ()  # nothing twice
    for e in ("s0", "s2"):
        state = attest(state, att(e))
    done = step(state, 20, T)
    assert done.state.verdict == "accepted" and done.agreement.agreeing == ("s0", "s2")
    assert step(done.state, 30, T).start == () and step(done.state, 30, T).agreement is None
    assert attest(done.state, att("s1", b"late")) is done.state  # decided: nothing changes


def test_a_lost_run_is_replaced_by_a_spare() -> None:
    state = step(JobState(job()), 0, T).state
    state = attest(attest(state, att("s0")), att("s1", b"different"))
    s = step(state, T, T)  # s2 never answered
    assert s.lost == ("s2",) and s.start == ("s3",)
    s = step(attest(s.state, att("s3")), T + 1, T)
    assert s.state.verdict == "accepted" and s.agreement.dissenting == ("s1",)


def test_runs_that_disagree_fail_with_no_agreement() -> None:
    state = step(JobState(job()), 0, T).state
    for e, out in (("s0", b"a"), ("s1", b"b"), ("s2", b"c")):
        state = attest(state, att(e, out))
    s = step(state, 1, T)
    assert s.state.verdict == "no agreement" and s.start == ()  # spares do not break ties


def test_when_too_many_runs_are_lost_the_job_ran_out_of_executors() -> None:
    state = step(JobState(job(r=3, candidates=3)), 0, T).state
    s = step(attest(state, att("s0")), T, T)
    assert s.state.verdict == "ran out of executors" and set(s.lost) == {"s1", "s2"}


def test_an_attestation_from_an_executor_never_asked_is_ignored() -> None:
    state = step(JobState(job()), 0, T).state
    assert attest(state, att("s4")) is state


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(0, 3),
    st.lists(st.tuples(st.integers(0, 7), st.sampled_from([b"a", b"b", None])), max_size=30),
)
def test_never_more_than_r_live_runs_and_each_candidate_at_most_once(r, spares, events) -> None:
    state, now = JobState(job(r, r + spares)), 0
    started: list[str] = []
    for who, out in events:
        now += T // 2
        s = step(state, now, T)
        started += s.start
        state = s.state
        assert len([x for x in state.runs if not x.lost]) <= r  # lost runs are replaced
        if out is not None and state.runs:
            state = attest(state, att(state.runs[who % len(state.runs)].executor, out))
    assert len(started) == len(set(started))  # no candidate started twice
    assert set(started) <= set(state.job.executors)
