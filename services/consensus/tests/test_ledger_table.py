"""The incremental hashed table behind accounts and nodes: after any sequence of updates its
kept root equals a from-scratch recomputation, it reads like the plain map it stands for, and an
update leaves the table it came from untouched."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.consensus.ledger.state import ACCOUNTS, Account
from stratos.consensus.ledger.table import BUCKETS, HashedTable, bucket_of

# A few keys, so updates hit the same keys and buckets again and deletions find something.
_keys = st.sampled_from([f"{i:040x}" for i in range(40)] + ["ab" * 20, "x"])
_accounts = st.builds(
    Account,
    balance=st.integers(0, 2**64 - 1),
    nonce=st.integers(0, 2**64 - 1),
    ozone=st.integers(0, 2**64 - 1),
)
_blocks = st.lists(
    st.dictionaries(_keys, st.none() | _accounts, max_size=12), min_size=1, max_size=8
)


@settings(max_examples=150, deadline=None)
@given(genesis=st.dictionaries(_keys, _accounts, max_size=20), blocks=_blocks)
def test_the_kept_root_equals_a_recomputation_after_any_updates(genesis, blocks) -> None:
    table = HashedTable.from_items(ACCOUNTS, genesis.items())
    model = dict(genesis)
    for changes in blocks:
        before, before_root = dict(table.items()), table.root()
        table_next = table.updated(changes)
        for k, v in changes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert dict(table_next.items()) == model
        assert len(table_next) == len(model)
        assert table_next.root() == table_next.recomputed_root()
        assert table_next.root() == HashedTable.from_items(ACCOUNTS, model.items()).root()
        # the table it came from is a value: unchanged by the update
        assert dict(table.items()) == before and table.root() == before_root
        table = table_next


def test_the_root_depends_on_every_entry_but_not_on_the_order_of_insertion() -> None:
    items = [(f"{i:040x}", Account(balance=i)) for i in range(300)]
    a = HashedTable.from_items(ACCOUNTS, items)
    b = HashedTable.from_items(ACCOUNTS, reversed(items))
    assert a.root() == b.root()
    assert a.updated({items[7][0]: Account(balance=8)}).root() != a.root()
    assert a.updated({items[7][0]: None}).root() != a.root()
    assert a.updated({"new": Account()}).root() != a.root()
    assert HashedTable.empty(ACCOUNTS).root() == HashedTable.from_items(ACCOUNTS, []).root()


def test_it_reads_like_a_map() -> None:
    table = HashedTable.from_items(ACCOUNTS, [("a" * 40, Account(balance=1))])
    assert table["a" * 40] == Account(balance=1) and table.get("b" * 40) is None
    assert "a" * 40 in table and 5 not in table and len(table) == 1
    assert table == {"a" * 40: Account(balance=1)}
    assert 0 <= bucket_of("a" * 40) < BUCKETS


def test_an_update_records_its_changes_against_its_parent() -> None:
    table = HashedTable.from_items(ACCOUNTS, [("a" * 40, Account(balance=1))])
    nxt = table.updated({"b" * 40: Account(balance=2)})
    assert nxt.parent_token is table.token and nxt.changes == {"b" * 40: Account(balance=2)}
    assert table.changes is None  # built from items: a store writes all of its rows
