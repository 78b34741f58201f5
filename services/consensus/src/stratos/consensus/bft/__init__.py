"""The pure Tendermint engine and its rules: messages and their wire form, validator sets, vote
sets, evidence of equivocation and the double-sign guard. No I/O, no clock, no ledger: the node
feeds it events and carries out the actions it returns (CometBFT's `consensus/` and `types/`)."""
