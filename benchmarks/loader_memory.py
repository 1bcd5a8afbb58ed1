"""Peak memory and time of loading replay data for many symbols: a window against the whole file.

Builds a data folder of ``--symbols`` perps and spots (each a renamed copy of a bundled symbol's
real klines and Binance funding, with its ``instruments.csv`` row) in a temporary directory,
then loads it in a fresh Python process per case with :meth:`ReplayDataset.load` and prints the
process's peak resident memory (``ru_maxrss``) and the load time:

    python benchmarks/loader_memory.py --symbols 200 --days 90

Figures vary with the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from venues.model import InstrumentKind  # noqa: E402
from venues.replay.instruments_file import (  # noqa: E402
    instruments_path,
    read_rules,
    write_rules,
)
from venues.replay.loader import bundled_data_dir  # noqa: E402

TEMPLATES = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT")


def build_folder(root: Path, n: int) -> list[str]:
    """``n`` symbols ``Z000USDT`` ... copied from the bundled templates; their names."""
    src = bundled_data_dir()
    rules = read_rules(instruments_path(src, "binance"))
    out_rules = []
    names = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        name = f"Z{i:03d}USDT"
        names.append(name)
        for kind, folder, suffix in (
            (InstrumentKind.PERP, "perp", "_1h.csv.gz"),
            (InstrumentKind.SPOT, "spot", "_1h.csv.gz"),
        ):
            dest = root / "binance" / folder / f"{name}{suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / "binance" / folder / f"{template}{suffix}", dest)
            row = rules[(kind, template)]
            out_rules.append(type(row)(**{**_fields(row), "symbol": name}))
        funding = root / "binance" / "funding" / f"{name}.csv.gz"
        funding.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "binance" / "funding" / f"{template}.csv.gz", funding)
    write_rules(instruments_path(root, "binance"), out_rules)
    return names


def _fields(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]


def measure(root: Path, names: list[str], start_ms: int | None, end_ms: int | None) -> str:
    code = textwrap.dedent(
        f"""
        import resource, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from venues.replay.source import ReplayDataset
        t = time.perf_counter()
        ds = ReplayDataset.load({str(root)!r}, perp_symbols={names!r}, spot_symbols={names!r},
                                funding_venues=["binance"], start_ms={start_ms}, end_ms={end_ms})
        wall = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{{ds.step_count():>6}} steps  {{wall:6.2f}} s  peak RSS {{peak_mb:7.1f}} MB")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = build_folder(root, args.symbols)
        end = datetime(2026, 3, 1, tzinfo=UTC)
        start = end - timedelta(days=args.days)
        window = (int(start.timestamp() * 1000), int(end.timestamp() * 1000))
        print(f"{args.symbols} perps + {args.symbols} spots + their funding (renamed real files)")
        print(f"  whole files      {measure(root, names, None, None)}")
        print(f"  {args.days}-day window   {measure(root, names, *window)}")


if __name__ == "__main__":
    main()
