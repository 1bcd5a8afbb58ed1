"""Straightforward implementations kept as references for the fast paths' tests."""
