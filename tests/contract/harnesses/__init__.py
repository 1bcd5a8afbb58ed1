"""One module per venue in the contract suite; see ``tests/contract/harness.py``."""
