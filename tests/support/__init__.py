"""Test doubles shared by unit, contract and integration tests (no network)."""
