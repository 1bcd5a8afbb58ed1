"""Stateful fakes of real venues (respx), shared by the contract suite and unit tests."""
