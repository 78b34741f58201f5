"""Stratos consensus: a Tendermint-style BFT ledger for STOS."""
