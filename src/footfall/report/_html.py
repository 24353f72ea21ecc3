"""The self-contained HTML report: one file, Leaflet and the charts inlined."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2

from footfall.report._charts import (
    color_legend,
    interval_chart,
    monthly_chart,
    resilience_chart,
    to_svg,
)
from footfall.report._content import Content, window_text
from footfall.report._map import zone_map

__all__ = ["render_html"]


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("footfall.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(
    content: Content, *, tiles: str | None = None, attribution: str | None = None
) -> str:
    """Render a report as one HTML page that needs no network.

    Parameters
    ----------
    content : Content
        What the report shows (:func:`build_content`).
    tiles : str, optional
        Basemap tile URL template; the page then loads tiles when online.
    attribution : str, optional
        Attribution of the tiles.

    Returns
    -------
    str
    """
    params = content.palmares.params
    files = resources.files("footfall.report") / "templates"
    return (
        _templates()
        .get_template("page.html")
        .render(
            c=content,
            windows={w: window_text(params[w]) for w in ("period", "baseline", "crisis")},
            map=zone_map(
                content.map_zones, fit=content.map_fit, tiles=tiles, attribution=attribution
            ),
            legend=to_svg(color_legend(content.color_range)),
            monthly_svg=to_svg(
                monthly_chart(content.monthly_levels, content.baseline_levels, params["crisis"][0])
            ),
            resilience_svg=to_svg(
                resilience_chart(
                    content.distribution,
                    content.palmares.mean_resilience,
                    len(content.palmares.table),
                    content.palmares.mean_resilience_n,
                )
            ),
            intervals_svg=to_svg(interval_chart(content.intervals)),
            notes=content.notes,
            css=(files / "report.css").read_text(encoding="utf-8"),
            sortable=(files / "sortable.js").read_text(encoding="utf-8"),
        )
    )
