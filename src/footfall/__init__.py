"""footfall: how busy town centres are, from mobile location pings.

The chain is zones -> index -> ingest -> count -> tables -> indicators -> ranking -> report.
The public API is flat::

    import footfall as ff
    zones = ff.read_zones("zones/")
    index = ff.ZoneIndex(zones)
    hourly = ff.count_passages("pings/", zones)
    table = ff.rank(hourly, zones)

Names are loaded lazily so that ``import footfall`` (and the CLI) start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from footfall._lazy import lazy_names
from footfall.errors import FootfallError, IndexBuildError, InputError, ZoneError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # zones
    "ZoneSet": "footfall.zones",
    "read_zones": "footfall.zones",
    "write_zones": "footfall.zones",
    "validate_zones": "footfall.zones",
    "fix_zones": "footfall.zones",
    "diff_zones": "footfall.zones",
    "build_zones": "footfall.zones",
    # index
    "ZoneIndex": "footfall.index",
    # ingest, hourly
    "read_pings": "footfall.ingest",
    "count_passages": "footfall.count",
    "read_hourly": "footfall.tables",
    "read_panel": "footfall.tables",
    "read_replicates": "footfall.tables",
    "write_hourly": "footfall.tables",
    # simulation
    "simulate": "footfall.simulation",
    # indicators
    "normalise": "footfall.indicators",
    "daily_passages": "footfall.indicators",
    "monthly_passages": "footfall.indicators",
    "monthly_series": "footfall.indicators",
    "resilience": "footfall.indicators",
    # ranking
    "rank": "footfall.ranking",
    "eligibility": "footfall.ranking",
    "Palmares": "footfall.ranking",
    "palmares": "footfall.ranking",
    # drivers
    "Drivers": "footfall.radiography",
    "drivers": "footfall.radiography",
    # report
    "write_report": "footfall.report",
}

# Spelled out (not built from _LAZY) so that linters and IDEs see the public names;
# tests/test_api.py checks that both lists agree.
__all__ = [
    "FootfallError",
    "IndexBuildError",
    "InputError",
    "ZoneError",
    "__version__",
    "Drivers",
    "Palmares",
    "ZoneIndex",
    "ZoneSet",
    "build_zones",
    "count_passages",
    "daily_passages",
    "diff_zones",
    "drivers",
    "eligibility",
    "fix_zones",
    "monthly_passages",
    "monthly_series",
    "normalise",
    "palmares",
    "rank",
    "read_hourly",
    "read_panel",
    "read_replicates",
    "write_hourly",
    "read_pings",
    "read_zones",
    "resilience",
    "simulate",
    "validate_zones",
    "write_report",
    "write_zones",
]


__getattr__, __dir__ = lazy_names("footfall", _LAZY, __all__, globals())


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from footfall.count import count_passages
    from footfall.index import ZoneIndex
    from footfall.indicators import (
        daily_passages,
        monthly_passages,
        monthly_series,
        normalise,
        resilience,
    )
    from footfall.ingest import read_pings
    from footfall.radiography import Drivers, drivers
    from footfall.ranking import Palmares, eligibility, palmares, rank
    from footfall.report import write_report
    from footfall.simulation import simulate
    from footfall.tables import read_hourly, read_panel, read_replicates, write_hourly
    from footfall.zones import (
        ZoneSet,
        build_zones,
        diff_zones,
        fix_zones,
        read_zones,
        validate_zones,
        write_zones,
    )
