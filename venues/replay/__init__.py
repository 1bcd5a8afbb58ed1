"""Recorded real market history (bundled under ``data/``) and the replay source built on it."""

from venues.replay.loader import (
    DataFileError,
    FundingSeries,
    KlineSeries,
    bundled_data_dir,
    load_funding,
    load_klines,
)
from venues.replay.source import ReplayDataset, ReplayStep, available_symbols

__all__ = [
    "DataFileError",
    "FundingSeries",
    "KlineSeries",
    "ReplayDataset",
    "ReplayStep",
    "available_symbols",
    "bundled_data_dir",
    "load_funding",
    "load_klines",
]
