"""The zone map: a folium (Leaflet) map with Leaflet inlined, so it works offline."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

import folium
import geopandas as gpd

from footfall.report._outline import regions_geojson

__all__ = [
    "MapParts",
    "LEAFLET_VERSION",
    "POPUP",
    "ZONE_CLASS",
    "DOT_CLASS",
    "REGION_CLASS",
    "leaflet_assets",
    "zone_map",
]

#: Version of the vendored Leaflet (``assets/``, from ``npm pack leaflet@1.9.4``).
LEAFLET_VERSION = "1.9.4"
#: CSS class of every zone's Leaflet path: one path per zone, whatever its size.
ZONE_CLASS = "ff-zone"
#: CSS class of the dot (a circle marker) that marks each zone at low zoom.
DOT_CLASS = "ff-dot"
#: CSS class of the outline of a mainland region (:mod:`footfall.report._outline`).
REGION_CLASS = "ff-region"
#: Popup fields of a zone and their labels.
POPUP = {
    "name": "Town",
    "status": "Status",
    "passages": "Monthly passages",
    "resilience": "Resilience",
}


@dataclass(frozen=True)
class MapParts:
    """A rendered map, split to fit a page: ``header`` (styles, Leaflet), ``html``, ``script``."""

    header: str
    html: str
    script: str


@cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS, the CSS with its images inlined as data URIs.

    Returns
    -------
    js, css : str
    """
    assets = resources.files("footfall.report") / "assets"

    def data_uri(match: re.Match[str]) -> str:
        png = (assets / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode()})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, (assets / "leaflet.css").read_text())
    return (assets / "leaflet.js").read_text(), css


def zone_map(
    zones: gpd.GeoDataFrame,
    *,
    fit: gpd.GeoDataFrame | None = None,
    tiles: str | None = None,
    attribution: str | None = None,
) -> MapParts:
    """Draw zones on a Leaflet map: per zone, its shape and a dot, with a popup.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        EPSG:4326 zones with ``zone_id``, ``color`` (fill and outline) and the popup
        fields of :data:`POPUP` as text (already HTML-escaped: folium inserts them as
        HTML); the tooltip shows ``name``.
    fit : geopandas.GeoDataFrame, optional
        Zones the initial view fits (default all of `zones`).
    tiles : str, optional
        A basemap tile URL template (``https://.../{z}/{x}/{y}.png``); without one the
        map has no basemap and needs no network at all.
    attribution : str, optional
        Attribution of the tiles (default the tile server's host name).

    Returns
    -------
    MapParts

    Notes
    -----
    folium links Leaflet (and jQuery, Bootstrap...) from CDNs; the map here drops those
    links and inlines the vendored Leaflet instead, the only library it uses.
    """
    m = folium.Map(tiles=None, width="100%", height="100%", zoom_snap=0.25)
    m.default_js, m.default_css = [], []
    js, css = leaflet_assets()
    fig = m.get_root()
    fig.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
    fig.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet")
    if tiles:
        folium.TileLayer(
            tiles, attr=attribution or urlsplit(tiles).hostname or tiles, name="basemap"
        ).add_to(m)
    # Mainland regions, drawn first and inert: they orient the reader without tiles.
    folium.GeoJson(
        regions_geojson(),
        name=REGION_CLASS,
        interactive=False,
        style_function=lambda f: {
            "color": "#9aa3ab",
            "weight": 1,
            "fillColor": "#f4f1ea",
            "fillOpacity": 1,
            "className": REGION_CLASS,
        },
    ).add_to(m)
    table = zones.set_index("zone_id")[["color", *POPUP, "geometry"]]
    dots = table.assign(geometry=table.geometry.representative_point())
    for layer, shape_class, style in (
        (table, ZONE_CLASS, {"weight": 2, "fillOpacity": 0.5}),
        # A zone is ~1 km wide, less than a pixel at national zoom where Leaflet draws
        # its polygon as an invisible zero-length path: a dot marks every town.
        (dots, DOT_CLASS, {"weight": 1, "fill": True, "fillOpacity": 0.9, "radius": 5}),
    ):
        folium.GeoJson(
            layer.to_json(),
            name=shape_class,
            marker=folium.CircleMarker() if layer is dots else None,
            style_function=lambda f, cls=shape_class, style=style: {
                "color": "#333333" if cls == DOT_CLASS else f["properties"]["color"],
                "fillColor": f["properties"]["color"],
                "className": cls,
                **style,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=list(POPUP), aliases=list(POPUP.values())),
        ).add_to(m)
    west, south, east, north = (zones if fit is None or fit.empty else fit).total_bounds
    m.fit_bounds([[south, west], [north, east]], padding=(20, 20))
    fig.render()
    return MapParts(fig.header.render(), fig.html.render(), fig.script.render())
