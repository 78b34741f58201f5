"""`stratos rewards`: the totals a settled report's result states, and per node its bytes and
share over the epochs shown (pure; the chain part runs in e2e/test_incentive.py)."""

from __future__ import annotations

from stratos.sdk import render
from stratos.sdk.chain import _settle_log_numbers, rewards_dict

LOG = (
    "settled epoch 3: 300 bytes at 2 nodes, 200 ozone used, 0.000000064 STOS traffic reward, "
    "10 STOS mined, 1 nodes slashed"
)


def epoch(n: int, traffic: list[tuple[str, int, int]]) -> dict:
    return {
        "epoch": n,
        "height": 20 * n + 21,
        "bytes": sum(b for _, b, _ in traffic),
        "ozone": 0,
        "audits_failed": sum(f for _, _, f in traffic),
        "traffic": [{"node": a, "bytes": b, "audits_failed": f} for a, b, f in traffic],
        "credits": [
            {"address": a, "earned_nstos": b * 10, "debt_paid_nstos": 0, "slashed_nstos": f * 10**9}
            for a, b, f in traffic
        ]
        + [{"address": "validator", "earned_nstos": 7, "debt_paid_nstos": 0, "slashed_nstos": 0}],
        "signers": [],
        **_settle_log_numbers(LOG),
    }


def test_the_result_sentence_gives_the_totals() -> None:
    assert _settle_log_numbers(LOG) == {
        "traffic_reward": "0.000000064",
        "mined": "10",
        "nodes_slashed": "1",
    }
    assert _settle_log_numbers("something else") == {
        "traffic_reward": None,
        "mined": None,
        "nodes_slashed": None,
    }


def test_nodes_are_summed_over_epochs_biggest_first() -> None:
    doc = rewards_dict([epoch(4, [("a", 100, 0), ("b", 300, 1)]), epoch(3, [("a", 100, 2)])])
    assert [(n["node"], n["bytes"], n["audits_failed"], n["epochs"]) for n in doc["nodes"]] == [
        ("b", 300, 1, 1),
        ("a", 200, 2, 2),
        ("validator", 0, 0, 0),
    ]
    assert [round(n["share"], 2) for n in doc["nodes"]] == [0.6, 0.4, 0.0]
    assert render.rewards_view(doc) is not None
    assert rewards_dict([])["nodes"] == []


def test_what_each_address_earned_and_was_slashed_is_summed_and_shown_in_stos() -> None:
    doc = rewards_dict([epoch(4, [("a", 100, 0), ("b", 300, 1)]), epoch(3, [("b", 100, 2)])])
    rows = {n["node"]: n for n in doc["nodes"]}
    assert {a: (r["earned_nstos"], r["slashed_nstos"], r["slashed"]) for a, r in rows.items()} == {
        "a": (1_000, 0, "0"),
        "b": (4_000, 3 * 10**9, "3"),
        "validator": (14, 0, "0"),  # earned in both epochs without serving a byte
    }
    assert rows["validator"]["bytes"] == 0 and rows["validator"]["share"] == 0.0
    assert [n["node"] for n in doc["nodes"]] == ["b", "a", "validator"]
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(render.rewards_view(doc))
    text = console.export_text()
    assert "earned (STOS)" in text and "0.000004" in text
