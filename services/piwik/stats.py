"""``stats``: per-day figures from the ledger plus Matomo's VisitsSummary.get, as a table
or CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

from services.piwik.importer import Clients
from services.piwik.sites import Site
from services.piwik.warehouse import day_figures

__all__ = ["STAT_COLUMNS", "MATOMO_COLUMNS", "collect_stats", "render_table", "render_csv"]

STAT_COLUMNS = ("day", "files", "bytes", "avg_bytes", "lines", "hits", "bad_lines")
MATOMO_COLUMNS = ("nb_visits", "nb_uniq_visitors", "nb_actions", "bounce_count", "sum_visit_length")


async def collect_stats(clients: Clients, site: Site, start: date, end: date) -> list[dict]:
    """One row per day; Matomo's columns only when Matomo is configured."""
    rows = await day_figures(clients.warehouse, site.name, start, end)
    for row in rows:
        row["avg_bytes"] = row["bytes"] // row["files"] if row["files"] else 0
        if clients.matomo is not None:
            summary = await clients.matomo.visits_summary(site.id_site, row["day"])
            row.update({name: summary.get(name, 0) for name in MATOMO_COLUMNS})
    return rows


def _columns(rows: list[dict]) -> list[str]:
    return [c for c in (*STAT_COLUMNS, *MATOMO_COLUMNS) if rows and c in rows[0]]


def render_table(rows: list[dict]) -> str:
    """An aligned text table."""
    columns = _columns(rows) or list(STAT_COLUMNS)
    cells = [columns] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    )


def render_csv(rows: list[dict]) -> str:
    """CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _columns(rows) or list(STAT_COLUMNS)
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in rows)
    return out.getvalue()
