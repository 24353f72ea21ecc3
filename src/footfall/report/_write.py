"""``write_report``: the palmarès with its map and charts, as HTML or Markdown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from footfall.errors import InputError
from footfall.manifest import atomic_path, beside, file_record, make_manifest, write_manifest
from footfall.publish import check_min_count
from footfall.ranking import palmares, publication
from footfall.report._content import build_content
from footfall.report._html import render_html
from footfall.report._map import LEAFLET_VERSION
from footfall.report._markdown import chart_paths, render_markdown
from footfall.zones import ZoneSet, read_zones

__all__ = ["write_report", "DEFAULT_TITLE", "Format"]

Format = Literal["html", "md"]
DEFAULT_TITLE = "Palmarès des centres-villes dynamiques"


def write_report(
    hourly: pd.DataFrame | str | os.PathLike,
    zones: ZoneSet | str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: Format | None = None,
    title: str = DEFAULT_TITLE,
    top: int | None = 30,
    chart_top: int = 10,
    min_count: int = 10,
    tiles: str | None = None,
    attribution: str | None = None,
    indicators: pd.DataFrame | str | os.PathLike | None = None,
    **kwargs: Any,
) -> Path:
    """Write the palmarès report: tables, map, charts, excluded towns and run manifest.

    Parameters
    ----------
    hourly : pandas.DataFrame or path
        Hourly table with its panel (``attrs["panel"]``), or the path of its Parquet
        file (panel and manifest read beside it).
    zones : ZoneSet or path
        The zone set the hourly table was counted on.
    out : path
        The report file. Its manifest is written beside it (``<out>.manifest.json``);
        a Markdown report also writes its charts as ``<stem>-map.png``,
        ``<stem>-monthly.png`` and ``<stem>-resilience.png``.
    format : {"html", "md"}, optional
        Default from the suffix of `out`: ``.md`` gives Markdown, anything else HTML.
    title : str
        Title of the report.
    top : int or None
        Length of the palmarès (``None``: every eligible town).
    chart_top : int
        How many of the top towns the monthly chart shows.
    min_count : int
        Suppression threshold in distinct devices (``0``: none, for internal use): see
        Notes and :mod:`footfall.publish`.
    tiles : str, optional
        Basemap tile URL template (``https://.../{z}/{x}/{y}.png``) for the HTML map.
        Without it the map has no basemap and the page needs no network at all.
    attribution : str, optional
        Attribution of `tiles` (default the tile server's host name).
    indicators : pandas.DataFrame or path, optional
        Town indicators keyed by ``insee``: adds a "What drives dynamism" section
        (:func:`footfall.drivers`, over every eligible town).
    **kwargs
        Options of :func:`footfall.palmares` (``panel``, ``normalise``, ``period``,
        ``baseline``, ``crisis``, eligibility filters...).

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    InputError
        On an unknown `format`, a negative `min_count`, or inputs the palmarès refuses
        (see :func:`footfall.palmares`).
    ZoneError
        When `zones` cannot be read.

    Notes
    -----
    The HTML page is self-contained: Leaflet (vendored, version 1.9.4) and the charts
    (SVG) are inlined, so it opens offline. A figure is published only when the busiest
    zone-hour of its window saw at least `min_count` distinct devices (a lower bound on
    the devices behind it); otherwise it reads ``"<min_count>"``: each zone-month, and
    a town's monthly passages and resilience. The report reads hourly counts only, so
    no device identifier can reach it.
    """
    out = Path(out)
    fmt = format or ("md" if out.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in get_args(Format):
        raise InputError(f"`format` was {fmt!r} but is expected to be in {get_args(Format)}")
    if chart_top < 1:
        raise InputError(f"`chart_top` was {chart_top} but must be at least 1")
    zones = read_zones(zones)  # any zones (a ZoneSet as is)
    inputs = []
    if not isinstance(hourly, pd.DataFrame):
        from footfall.tables import read_hourly

        path = Path(hourly)
        hourly = read_hourly(path)
        inputs.append(file_record(path))
    if kwargs.get("panel") is not None:
        # The raw counts behind suppression need the same coverage as the palmarès.
        from footfall.tables import attach_panel

        hourly = attach_panel(hourly.copy(deep=False), kwargs["panel"])

    min_count = check_min_count(min_count)
    pal = palmares(hourly, zones, top=top, min_count=min_count, **kwargs)
    parameters = {
        **{k: v for k, v in pal.params.items() if k != "zones_hash"},
        "format": fmt,
        "title": title,
        "chart_top": chart_top,
        "min_count": min_count,
        "tiles": tiles,
    }
    manifest = make_manifest(
        "report",
        inputs=inputs,
        parameters=parameters,
        zones={
            "hash": zones.hash,
            "n_zones": len(zones),
            "sources": [str(s) for s in zones.sources],
        },
        outputs={"report": str(out)}
        | ({name: str(p) for name, p in chart_paths(out).items()} if fmt == "md" else {}),
        leaflet=LEAFLET_VERSION,
        publication=publication(min_count),
        upstream=hourly.attrs.get("manifest"),
    )
    content = build_content(
        pal,
        hourly,
        _named(zones, pal),
        title=title,
        min_count=min_count,
        chart_top=chart_top,
        manifest=manifest,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        text = render_markdown(content, out)
    else:
        text = render_html(content, tiles=tiles, attribution=attribution)
    if indicators is not None:
        from footfall.radiography import drivers, report_section

        section = report_section(drivers(pal, zones, indicators), fmt)
        mark = '<section id="method">' if fmt == "html" else "## Method and publication rules"
        text = text.replace(mark, section + "\n" + mark, 1)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write_manifest(beside(out, "manifest", "json"), manifest)
    return out


def _named(zones: ZoneSet, pal: Any) -> ZoneSet:
    """Give zones read without names the town names the palmarès filled."""
    if zones.gdf["name"].notna().all():
        return zones
    names = pal.scores["name"].reindex(zones.gdf["zone_id"]).to_numpy()
    return ZoneSet(zones.gdf.assign(name=names), sources=zones.sources)
