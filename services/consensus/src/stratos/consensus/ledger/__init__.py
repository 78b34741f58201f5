"""The deterministic state machine of the STOS ledger: the state as values and its app hash, txs,
blocks, genesis, pricing, and the mempool that admits only txs that would apply. Pure functions
of (state, input); it knows nothing of consensus (CometBFT's `state/` and `mempool/`)."""
