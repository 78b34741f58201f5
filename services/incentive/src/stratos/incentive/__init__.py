"""Stratos incentive service: verifies Proof-of-Traffic receipts, tallies them per node and per
epoch with the audit results, and settles each epoch on the ledger with a report that bonded
meta nodes sign."""
