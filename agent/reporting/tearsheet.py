"""The tearsheet: one self-contained HTML file (and PNG figures) of a run, from its journal.

``zerobeta report --html OUT.html`` (and ``--png-dir DIR``) writes it. The page holds no
script and loads nothing: the figures (:mod:`agent.reporting.plots`, matplotlib) are PNGs
embedded as ``data:`` URIs and the styles are inline, so it opens offline in any browser.

Sections: headline figures; equity and drawdown; cumulative P&L by stream and by strategy; the
P&L table by stream / strategy / venue; P&L per leg (table with each strategy's total, and a
bar chart); rolling beta to BTC with the ±0.10 band and the neutrality table per series;
funding per venue and symbol; the trade list of each pair (round trips, in ``<details>``).

Every number printed comes from :func:`agent.reporting.run_report.run_report_to_dict`, the very
dict ``zerobeta report --json`` prints: each number cell carries ``data-path`` (the JSON path of
its value, a JSON array of keys and indices), ``data-value`` (that value, JSON-encoded: exact
decimal strings for USD amounts) and ``data-format`` (how it is shown: ``usd`` 2 decimals
with thousands separators, ``pct`` a fraction as % with 2 decimals, ``num2``/``num3``/``num4``
decimals, ``int``, ``text``), so a test or a script can check the page against the JSON.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from agent.reporting import plots
from agent.reporting.analysis import PNL_STREAMS
from agent.reporting.neutrality_report import PORTFOLIO
from agent.reporting.run_report import RunReport, run_report_to_dict
from agent.reporting.tearsheet_series import TearsheetSeries, read_tearsheet_series

Path_ = Sequence[str | int]
_STREAM_HEADERS = ["price spot", "price perp", "funding", "fees", "slippage", "total"]


@dataclass(frozen=True, slots=True)
class Tearsheet:
    """A rendered tearsheet: the HTML page and its figures as PNG bytes, by file stem."""

    html: str
    figures: Mapping[str, bytes]


# ---------------------------------------------------------------------------------------------
# Cells


def _lookup(data: Mapping[str, Any], path: Path_) -> Any:
    value: Any = data
    for key in path:
        value = value[key]
    return value


def format_value(value: object, fmt: str) -> str:
    """How a tearsheet shows a JSON value (``data-format`` in the module docstring);
    ``None`` (NaN) as ``n/a``."""
    if value is None:
        return "n/a"
    if fmt == "text":
        return str(value)
    if fmt == "usd":
        text = f"{Decimal(str(value)):,.2f}"
        return "0.00" if text == "-0.00" else text
    if fmt == "int":
        return f"{int(str(value)):,}"
    number = float(str(value))
    if not math.isfinite(number):
        return "n/a"
    if fmt == "pct":
        return f"{number:.2%}"
    return f"{number:.{int(fmt.removeprefix('num'))}f}"


class _Cells:
    """Renders number cells of one report dict, each tagged with its JSON path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def td(self, path: Path_, fmt: str) -> str:
        value = _lookup(self.data, path)
        text = format_value(value, fmt)
        negative = text.startswith("-")
        attrs = (
            f' data-path="{html.escape(json.dumps(list(path)))}"'
            f' data-value="{html.escape(json.dumps(value))}" data-format="{fmt}"'
        )
        css = "num neg" if negative else "num"
        return f'<td class="{css}"{attrs}>{html.escape(text)}</td>'

    def streams_row(self, name: str, path: Path_, css: str = "") -> str:
        cells = "".join(self.td([*path, s], "usd") for s in PNL_STREAMS)
        return f'<tr class="{css}"><th scope="row">{html.escape(name)}</th>{cells}</tr>'


def _table(head: Iterable[str], rows: Iterable[str], css: str = "") -> str:
    header = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join(rows)
    return f'<table class="{css}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def figure_html(name: str, png: bytes, alt: str) -> str:
    """A ``<figure id="fig-<name>">`` holding the PNG bytes ``png`` as a ``data:`` URI."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="fig-{name}"><img alt="{html.escape(alt)}" '
        f'src="data:image/png;base64,{data}"></figure>'
    )


def _day(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "n/a"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _time(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "open"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------
# Sections


def _headline(c: _Cells) -> str:
    rows = []
    if c.data["equity"] is not None:
        rows += [
            ("initial equity (USD)", ["equity", "initial_equity_usd"], "usd"),
            ("final equity (USD)", ["equity", "final_equity_usd"], "usd"),
            ("P&L (USD)", ["pnl", "total_usd", "total_usd"], "usd"),
        ]
    rows += [
        ("total return", ["performance", "total_return_frac"], "pct"),
        ("CAGR", ["performance", "annualized_return_frac"], "pct"),
        ("max drawdown", ["performance", "max_drawdown_frac"], "pct"),
        ("Sharpe (daily, × √365)", ["performance", "sharpe"], "num2"),
        ("Calmar", ["performance", "calmar"], "num2"),
        ("beta to BTC", ["portfolio", "neutrality", "beta"], "num4"),
        ("beta p-value", ["portfolio", "neutrality", "beta_pvalue"], "num3"),
        ("UTC days", ["n_days"], "int"),
    ]
    body = [f'<tr><th scope="row">{html.escape(k)}</th>{c.td(p, f)}</tr>' for k, p, f in rows]
    neutral = c.data["portfolio"]["neutrality"]
    verdict = "n/a" if neutral["reason"] else ("yes" if neutral["truly_neutral"] else "no")
    body.append(f'<tr><th scope="row">truly neutral</th><td>{verdict}</td></tr>')
    table = _table(["figure", "value"], body, "kv")
    return f'<section id="headline"><h2>Headline</h2>{table}</section>'


def _pnl_table(c: _Cells) -> str:
    pnl = c.data["pnl"]
    rows = [c.streams_row("total", ["pnl", "total_usd"], "total")]
    rows += [
        c.streams_row(f"strategy {s}", ["pnl", "by_strategy_usd", s])
        for s in pnl["by_strategy_usd"]
    ]
    rows += [c.streams_row(f"venue {v}", ["pnl", "by_venue_usd", v]) for v in pnl["by_venue_usd"]]
    return _table(["P&L (USD)", *_STREAM_HEADERS], rows, "pnl")


def _leg_table(c: _Cells) -> str:
    pnl = c.data["pnl"]
    rows = []
    for strategy, legs in pnl["by_leg_usd"].items():
        path = ["pnl", "by_leg_usd", strategy]
        rows += [c.streams_row(f"{strategy} · {iid}", [*path, iid]) for iid in legs]
        rows.append(
            c.streams_row(f"{strategy} = Σ legs", ["pnl", "by_strategy_usd", strategy], "total")
        )
    return _table(["leg (strategy · instrument)", *_STREAM_HEADERS], rows, "pnl legs")


_NEUTRALITY_COLUMNS = [
    ("P&L (USD)", ["pnl_usd"], "usd"),
    ("beta", ["neutrality", "beta"], "num4"),
    ("p", ["neutrality", "beta_pvalue"], "num3"),
    ("R²", ["neutrality", "r_squared"], "num3"),
    ("alpha (annual)", ["neutrality", "alpha_annualized"], "pct"),
    ("Sharpe", ["sharpe"], "num2"),
    ("rolling β mean", ["neutrality", "rolling_beta_mean"], "num4"),
    ("rolling β std", ["neutrality", "rolling_beta_std"], "num4"),
    ("rolling max |β|", ["neutrality", "rolling_beta_max_abs"], "num4"),
]


def _neutrality_table(c: _Cells) -> str:
    entries: list[tuple[str, list[str | int]]] = [(PORTFOLIO, ["portfolio"])]
    entries += [(s, ["strategies", s]) for s in c.data["strategies"]]
    rows = []
    for name, path in entries:
        n = _lookup(c.data, [*path, "neutrality"])
        verdict = "n/a" if n["reason"] else ("yes" if n["truly_neutral"] else "no")
        cells = "".join(c.td([*path, *p], f) for _, p, f in _NEUTRALITY_COLUMNS)
        rows.append(f'<tr><th scope="row">{html.escape(name)}</th>{cells}<td>{verdict}</td></tr>')
    head = ["series", *(h for h, _, _ in _NEUTRALITY_COLUMNS), "truly neutral"]
    return _table(head, rows, "neutrality")


def _funding_table(c: _Cells) -> str:
    rows = []
    for iid, f in c.data["funding"].items():
        path = ["funding", iid]
        cells = c.td([*path, "payments"], "int") + "".join(
            c.td([*path, k], "usd") for k in ("received_usd", "paid_usd", "net_usd")
        )
        rows.append(
            f'<tr><th scope="row">{html.escape(f["venue"])}</th>'
            f"<td>{html.escape(f['symbol'])}</td>{cells}</tr>"
        )
    head = ["venue", "symbol", "payments", "received (USD)", "paid (USD)", "net (USD)"]
    return _table(head, rows, "funding")


_TRIP_AMOUNTS = ("price_usd", "funding_usd", "fees_usd", "total_usd", "slippage_usd")
_TRIP_HEADERS = ["price", "funding", "fees", "total", "of which slippage"]


def _pair_block(c: _Cells, strategy: str, index: int) -> str:
    path: list[str | int] = ["trades", strategy, "pairs", index]
    pair = _lookup(c.data, path)
    rows = []
    for t, trip in enumerate(pair["trips"]):
        tp = [*path, "trips", t]
        held_h = (
            ""
            if trip["closed_ms"] is None
            else f"{(trip['closed_ms'] - trip['opened_ms']) / 3.6e6:,.0f}"
        )
        amounts = "".join(c.td([*tp, k], "usd") for k in _TRIP_AMOUNTS)
        rows.append(
            f"<tr><td>{_time(trip['opened_ms'])}</td><td>{_time(trip['closed_ms'])}</td>"
            f'<td class="num">{held_h}</td>{c.td([*tp, "fills"], "int")}{amounts}</tr>'
        )
    head = [
        "opened (UTC)",
        "closed (UTC)",
        "held (h)",
        "fills",
        *(f"{h} (USD)" for h in _TRIP_HEADERS),
    ]
    summary = f"{html.escape(pair['label'])}: {len(pair['trips'])} round trips"
    legs = html.escape(", ".join(pair["instruments"]))
    return (
        f'<details><summary>{summary}</summary><p class="note">legs: {legs}</p>'
        f"{_table(head, rows, 'trips')}</details>"
    )


def _pairs_table(c: _Cells, strategy: str) -> str:
    of = c.data["trades"][strategy]
    rows = []
    for i, pair in enumerate(of["pairs"]):
        path: list[str | int] = ["trades", strategy, "pairs", i]
        closed = [t for t in pair["trips"] if t["closed_ms"] is not None]
        won = sum(1 for t in closed if Decimal(t["total_usd"]) > 0)
        amounts = "".join(
            c.td([*path, k], "usd") for k in ("price_usd", "funding_usd", "fees_usd", "total_usd")
        )
        counts = (len(pair["trips"]), len(pair["trips"]) - len(closed), f"{won}/{len(closed)}")
        rows.append(
            f'<tr><th scope="row">{html.escape(pair["label"])}</th>'
            + "".join(f'<td class="num">{n}</td>' for n in counts)
            + f"{amounts}</tr>"
        )
    outside = c.td(["trades", strategy, "funding_outside_trips_usd"], "usd")
    rows.append(
        f'<tr class="total"><th scope="row">funding outside trips</th><td></td><td></td><td></td>'
        f"<td></td>{outside}<td></td><td></td></tr>"
    )
    head = [
        "pair",
        "trips",
        "open",
        "won",
        "price (USD)",
        "funding (USD)",
        "fees (USD)",
        "total (USD)",
    ]
    blocks = "".join(_pair_block(c, strategy, i) for i in range(len(of["pairs"])))
    return f"<h3>{html.escape(strategy)}</h3>{_table(head, rows, 'pairs')}{blocks}"


# ---------------------------------------------------------------------------------------------
# Figures


def _figures(data: Mapping[str, Any], series: TearsheetSeries) -> dict[str, tuple[Figure, str]]:
    """Figure per file stem, with its alt text."""
    figures = {
        "equity_drawdown": (plots.equity_drawdown_figure(series), "equity and drawdown"),
        "pnl_by_stream": (plots.stream_pnl_figure(series), "cumulative P&L by stream"),
        "pnl_by_strategy": (plots.strategy_pnl_figure(series), "cumulative P&L by strategy"),
        "rolling_beta": (plots.rolling_beta_figure(series), "rolling beta to BTC"),
    }
    if data["pnl"] is not None:
        totals = {
            s: {iid: float(row["total_usd"]) for iid, row in legs.items()}
            for s, legs in data["pnl"]["by_leg_usd"].items()
        }
        figures["pnl_by_leg"] = (plots.leg_pnl_figure(totals), "total P&L per leg")
        net = {(f["venue"], f["symbol"]): float(f["net_usd"]) for f in data["funding"].values()}
        figures["funding"] = (plots.funding_figure(net, series), "funding per venue and symbol")
    return figures


# ---------------------------------------------------------------------------------------------
# Page


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:24px auto;max-width:1240px;color:#1a1a1a;line-height:1.4}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.note{color:#555;font-size:0.9em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.86em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
thead th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.neg{color:#b00020}tr.total th,tr.total td{font-weight:600;background:#fafafa}
figure{margin:8px 0}img{max-width:100%;height:auto}
details{margin:4px 0 4px 12px}summary{cursor:pointer}
"""


def page_html(title: str, intro: str, sections: Iterable[str]) -> str:
    """A whole self-contained page (the tearsheet's inline styles, no script): ``title`` as
    its title and heading, then ``intro`` and ``sections`` (HTML, already escaped)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{intro}{''.join(sections)}</body></html>\n"
    )


def _sections(c: _Cells, img: Callable[[str], str]) -> list[str]:
    d = c.data
    sections = [
        _headline(c),
        f'<section id="equity"><h2>Equity and drawdown</h2>{img("equity_drawdown")}</section>',
    ]
    pnl = f"{img('pnl_by_stream')}{img('pnl_by_strategy')}"
    if d["pnl"] is not None:
        pnl += _pnl_table(c)
        sections.append(f'<section id="pnl"><h2>P&amp;L</h2>{pnl}</section>')
        sections.append(
            '<section id="legs"><h2>P&amp;L per leg</h2><p class="note">Each leg is one '
            "instrument of a strategy; its rows sum to the strategy's total exactly.</p>"
            f"{_leg_table(c)}{img('pnl_by_leg')}</section>"
        )
    else:
        sections.append(
            f'<section id="pnl"><h2>P&amp;L</h2>{pnl}'
            f'<p class="note">{html.escape(str(d["ledger_reason"]))}</p></section>'
        )
    sections.append(
        '<section id="neutrality"><h2>Neutrality to BTC</h2>'
        f'<p class="note">{html.escape(str(d["strategy_return_definition"]))}</p>'
        f"{img('rolling_beta')}{_neutrality_table(c)}</section>"
    )
    if d["pnl"] is not None:
        sections.append(
            '<section id="funding"><h2>Funding per venue and symbol</h2>'
            f"{img('funding')}{_funding_table(c)}</section>"
        )
        trades = "".join(_pairs_table(c, s) for s in d["trades"])
        sections.append(
            '<section id="trades"><h2>Trades per pair</h2><p class="note">A round trip runs from '
            "flat to flat over the pair's own fills; price is P&amp;L at fill prices (slippage "
            "included), an open trip is valued at the marks. Each strategy's trips plus its "
            f"funding outside trips sum to its total P&amp;L.</p>{trades}</section>"
        )
    return sections


def render_tearsheet(report: RunReport, series: TearsheetSeries) -> Tearsheet:
    """Render the tearsheet of ``report`` with the plotted ``series`` (module docstring)."""
    data: dict[str, Any] = run_report_to_dict(report)
    figures = {
        name: (plots.png_bytes(fig), alt) for name, (fig, alt) in _figures(data, series).items()
    }
    cells = _Cells(data)
    title = f"zerobeta tearsheet: {Path(str(data['journal_path'])).name}"
    equity = data["equity"]
    valued = f"; open positions valued at {equity['valued_at']}" if equity else ""
    intro = (
        f'<p class="note">journal {html.escape(str(data["journal_path"]))}; '
        f"{_day(data['ts_first_day_ms'])} → {_day(data['ts_last_day_ms'])} UTC "
        f"({data['n_days']} days){html.escape(valued)}. Numbers as in "
        "<code>zerobeta report --json</code>.</p>"
    )
    page = page_html(title, intro, _sections(cells, lambda n: figure_html(n, *figures[n])))
    return Tearsheet(page, {name: png for name, (png, _) in figures.items()})


def write_tearsheet(
    journal_path: Path, report: RunReport, *, html_path: Path | None, png_dir: Path | None
) -> list[Path]:
    """Render the tearsheet of the run journaled at ``journal_path`` and write the HTML page
    and/or one PNG per figure (``png_dir/<name>.png``, the directory created if missing).

    Returns
    -------
    list[Path]
        The files written.

    Raises
    ------
    JournalError
        Unreadable journal or malformed snapshots.
    OSError
        A file cannot be written.
    """
    window = report.neutrality.portfolio.neutrality.rolling_window
    sheet = render_tearsheet(report, read_tearsheet_series(journal_path, rolling_window=window))
    written = []
    if html_path is not None:
        html_path.write_text(sheet.html, encoding="utf-8")
        written.append(html_path)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        for name, png in sheet.figures.items():
            target = png_dir / f"{name}.png"
            target.write_bytes(png)
            written.append(target)
    return written
