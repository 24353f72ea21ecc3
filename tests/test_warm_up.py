"""The local engine loads the map's kernels in a thread while it hashes the inputs (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.count.engines.local import _warm_up
from footfall.count._spec import CountSpec
from footfall.ingest import Columns


def _pings(path, n=5000, seed=3):
    rng = np.random.default_rng(seed)
    ids = [f"{rng.integers(1 << 62):016x}-4a1b-8c2d-{i % 97:012d}" for i in range(n)]
    pq.write_table(
        pa.table(
            {
                "maid": ids,
                "utc_timestamp": pd.date_range("2020-01-06", periods=n, freq="37s", tz="UTC"),
                "latitude": 46.2 + rng.normal(0, 0.01, n),
                "longitude": 5.22 + rng.normal(0, 0.01, n),
            }
        ),
        path,
    )


def test_warm_up_loads_the_map_kernels_in_a_fresh_process(tmp_path):
    _pings(tmp_path / "a.parquet")
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        import footfall as ff
        from footfall.zones import default_zones
        from footfall.count import _kernels
        from footfall.count._spec import CountSpec
        from footfall.count.engines.local import _warm_up
        from footfall.ingest import Columns
        zones = ff.read_zones(default_zones())
        index = ff.ZoneIndex(zones, cache=False)
        spec = CountSpec(Columns.of(None), "Europe/Paris", ("2019-01-01", "2021-01-01"), None)
        assert not _kernels.tally_rows.signatures
        _warm_up([Path({str(tmp_path / "a.parquet")!r})], index, spec, 1)
        print(len(_kernels.tally_rows.signatures))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(out.split()[-1]) >= 1


def test_warm_up_is_silent_on_a_bad_first_file_and_the_count_reports_it(tmp_path):
    import footfall as ff
    from footfall.errors import InputError
    from footfall.zones import default_zones

    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    _pings(tmp_path / "good.parquet")
    spec = CountSpec(Columns.of(None), "Europe/Paris", ("2019-01-01", "2021-01-01"), None)
    files = sorted(tmp_path.glob("*.parquet"))
    assert _warm_up(files, None, spec, 1) is None  # no index, no good file first: no raise
    zones = ff.read_zones(default_zones())
    try:
        ff.count_passages(files, zones, out=tmp_path / "o" / "h.parquet")
    except InputError as exc:
        assert "bad.parquet" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a corrupt file must fail the count")
    hourly = ff.count_passages(files, zones, out=tmp_path / "o" / "h.parquet", skip_bad_files=True)
    skipped = hourly.attrs["manifest"]["skipped_files"]
    assert [s["path"] for s in skipped] == [str(tmp_path / "bad.parquet")]
