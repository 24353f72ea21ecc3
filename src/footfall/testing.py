"""Assertions for users' tests: compare hourly tables (like ``geopandas.testing``)."""

from __future__ import annotations

import pandas as pd

from footfall.tables import read_panel

__all__ = ["assert_hourly_equal"]

_COLUMNS = ("zone_id", "hour", "passages", "pings")


def assert_hourly_equal(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    check_pings: bool = True,
    check_panel: bool = False,
) -> None:
    """Assert that two hourly tables hold the same zone-hours with the same counts.

    Parameters
    ----------
    left, right : pandas.DataFrame
        Hourly tables (``zone_id``, ``hour``, ``passages``, ``pings``), e.g. from
        :func:`footfall.count_passages` and a reference count. Row order and the index
        do not matter; hours compare as instants (time zones may differ).
    check_pings : bool
        Compare ``pings`` too (a reference may count passages only).
    check_panel : bool
        Compare ``attrs["panel"]`` too.

    Raises
    ------
    AssertionError
        Naming the first zone-hours that differ or exist on one side only.

    Examples
    --------
    >>> from footfall.testing import assert_hourly_equal
    >>> assert_hourly_equal(hourly, hourly.iloc[::-1])  # doctest: +SKIP
    """
    cols = [c for c in _COLUMNS if check_pings or c != "pings"]
    sides = []
    for name, df in (("left", left), ("right", right)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise AssertionError(f"{name} hourly table lacks column(s) {missing}")
        df = df[cols].copy()
        df["hour"] = pd.to_datetime(df["hour"], utc=True)
        if df.duplicated(["zone_id", "hour"]).any():
            dup = df[df.duplicated(["zone_id", "hour"])].iloc[0]
            raise AssertionError(f"{name}: zone-hour {dup['zone_id']} {dup['hour']} appears twice")
        sides.append(df.set_index(["zone_id", "hour"]).sort_index())
    joined = pd.merge(
        *sides, how="outer", left_index=True, right_index=True, suffixes=("_left", "_right")
    )
    bad = joined.isna().any(axis=1)
    for c in cols[2:]:
        bad |= joined[f"{c}_left"] != joined[f"{c}_right"]
    if bad.any():
        raise AssertionError(
            f"hourly tables differ in {int(bad.sum())} of {len(joined)} zone-hours "
            f"(NaN = missing on that side):\n{joined[bad].head(10)}"
        )
    if check_panel:
        if any("panel" not in df.attrs for df in (left, right)):
            raise AssertionError("check_panel: a table has no attrs['panel']")
        a, b = (read_panel(df).sort_values("day").reset_index(drop=True) for df in (left, right))
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj="panel")
