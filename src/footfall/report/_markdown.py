"""The Markdown report: tables as Markdown, charts as PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from footfall.manifest import beside
from footfall.publish import markdown_cell
from footfall.report._charts import (
    interval_chart,
    monthly_chart,
    points_map,
    resilience_chart,
    save_png,
)
from footfall.report._content import Content, Table

_CHARTS = ("map", "monthly", "intervals", "resilience")

__all__ = ["render_markdown", "markdown_table", "chart_paths"]


def chart_paths(out: Path) -> dict[str, Path]:
    """Name the PNG charts of a Markdown report at `out`: ``<stem>-<chart>.png`` beside it."""
    return {name: out.with_name(f"{out.stem}-{name}.png") for name in _CHARTS}


def render_markdown(content: Content, out: Path) -> str:
    """Render a report as Markdown for the file `out`; write its PNG charts beside it.

    Parameters
    ----------
    content : Content
        What the report shows (:func:`build_content`).
    out : Path
        Where the Markdown will be written (the charts' names derive from it).

    Returns
    -------
    str
        The Markdown text, which links the charts by relative name.
    """
    pal, params = content.palmares, content.palmares.params
    charts = {
        "map": points_map(content.map_zones, content.map_fit, content.color_range),
        "monthly": monthly_chart(
            content.monthly_levels, content.baseline_levels, params["crisis"][0]
        ),
        "intervals": interval_chart(content.intervals),
        "resilience": resilience_chart(
            content.distribution, pal.mean_resilience, len(pal.table), pal.mean_resilience_n
        ),
    }
    pngs = chart_paths(out)
    for name, fig in charts.items():
        save_png(fig, pngs[name])
    summary = "\n".join(f"- **{key}**: {value}" for key, value in content.summary.items())
    # The manifest in short; the whole record (every input file) is the JSON beside.
    manifest = [
        f"**{heading}**\n\n"
        + markdown_table(Table(["", ""], [[k, v] for k, v in items.items()], [], [False, False]))
        for heading, items in content.manifest_view.items()
    ]
    sections = [
        f"# {content.title}",
        summary,
        "## Palmarès",
        markdown_table(content.ranking),
        *([content.cutoff] if content.cutoff else []),
        "## Map: resilience of each zone",
        f"![Zones coloured by resilience]({pngs['map'].name})",
        f"## Monthly passages of the top {len(content.monthly_levels.columns)}",
        f"![Monthly passages against the pre-crisis level]({pngs['monthly'].name})",
        markdown_table(content.monthly),
        "## How sure are the figures",
        f"![Monthly passages and resilience with their 95 % intervals]({pngs['intervals'].name})",
        "## Resilience",
        f"![Distribution of the resilience index]({pngs['resilience'].name})",
        "Most resilient eligible towns:",
        markdown_table(content.most_resilient),
        "## Regional breakdown",
        markdown_table(content.regions),
        "## Excluded towns",
        markdown_table(content.excluded),
        "## Method and publication rules",
        "\n".join(f"- {line}" for line in content.notes),
        "## Run manifest",
        f"The whole manifest: `{beside(out, 'manifest', 'json').name}`.",
        *manifest,
    ]
    return "\n\n".join(sections) + "\n"


def markdown_table(table: Table) -> str:
    """Render a :class:`Table` as a GitHub-flavoured Markdown table."""
    if not table.rows:
        return "_None._"

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(map(markdown_cell, cells)) + " |"

    align = ["---:" if num else "---" for num in table.numeric]
    return "\n".join([line(table.columns), "|" + "|".join(align) + "|", *map(line, table.rows)])
