"""Ping input shaped like real deliveries (issues 12, 13, 14, 15).

One bad value among good ones, integer ids beside the same ids as text, UUIDs,
vendor column names, TSV and BOM, accuracy filter, and no public function of an id
in any file a count writes.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import footfall as ff
from footfall._keyed import derive_keys, keys_bytes, keys_int64, keys_uint64, siphash13
from footfall.cli import cli
from footfall.count._checkpoint import run_secret
from footfall.ingest import Columns, file_columns, read_pings, to_ping_batch
from footfall.testing import assert_hourly_equal
from test_hourly import random_pings, small_index, small_zones

SECRET = bytes(range(32))
_N = 0
_DIR = None


@pytest.fixture(autouse=True)
def _scratch(tmp_path):
    global _DIR
    _DIR = tmp_path


def count(source, **kw):
    return ff.count_passages(source, small_zones(), index=small_index(), **kw)


def same(a, b):
    assert_hourly_equal(a, b, check_panel=True)
    assert a.attrs["manifest"]["accounting"] == b.attrs["manifest"]["accounting"]


@pytest.fixture(scope="module")
def pings() -> pd.DataFrame:
    return random_pings(5_000, seed=7)


# --- the keyed hash ------------------------------------------------------------------


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & (2**64 - 1)


def _siphash(key: bytes, msg: bytes, c: int, d: int) -> int:
    """Reference SipHash-c-d in pure Python (Aumasson & Bernstein)."""
    m64 = 2**64 - 1
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]  # fmt: skip

    def rnd():
        v[0] = (v[0] + v[1]) & m64
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & m64
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & m64
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & m64
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    full = len(msg) - len(msg) % 8
    blocks = [int.from_bytes(msg[i : i + 8], "little") for i in range(0, full, 8)]
    blocks.append(((len(msg) & 0xFF) << 56) | int.from_bytes(msg[full:], "little"))
    for m in blocks:
        v[3] ^= m
        for _ in range(c):
            rnd()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(d):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_siphash_matches_the_reference_and_its_published_vectors():
    key = bytes(range(16))
    # the paper's SipHash-2-4 vectors check the reference itself
    assert _siphash(key, b"", 2, 4) == 0x726FDB47DD0E0E31
    assert _siphash(key, b"\x00", 2, 4) == 0x74F839C593DC67FD
    k0, k1 = (int.from_bytes(key[i : i + 8], "little") for i in (0, 8))
    for n in (0, 1, 7, 8, 9, 15, 16, 36, 63):
        msg = bytes(range(n))
        assert int(siphash13(np.frombuffer(msg, np.uint8).copy(), k0, k1)) == _siphash(
            key, msg, 1, 3
        )


def test_text_keys_at_every_offset_match_the_reference():
    # issue 15: words are read with one unaligned load; ids packed back to back in an
    # Arrow buffer start at any offset, and their tails are 0-7 bytes
    keys = derive_keys(SECRET)
    key = b"".join(int(k).to_bytes(8, "little") for k in keys[2:4])
    rng = np.random.default_rng(5)
    ids = [bytes(rng.integers(97, 123, n, dtype=np.uint8)) for n in range(1, 70)]
    arr = pa.array(ids, pa.binary())  # lower-case letters: never a decimal integer
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[: len(ids) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    assert len({int(o) % 8 for o in offsets}) == 8
    got, none = keys_bytes(offsets, data, np.zeros(len(ids), bool), keys)
    assert not none.any()
    assert [int(g) for g in got] == [_siphash(key, m, 1, 3) for m in ids]


def _text_keys(values, secret=SECRET):
    arr = pa.array(values, pa.string())
    n = len(arr)
    batch = pa.record_batch(
        [arr, pa.array([1.6e9] * n), pa.array([44.0] * n), pa.array([4.0] * n)],
        ["device_id", "timestamp", "lat", "lon"],
    )
    pings = to_ping_batch(batch, secret=secret)
    return pings.device, pings.device_null


def test_integer_and_text_ids_are_one_device_and_keys_are_keyed():
    keys = derive_keys(SECRET)
    ints = np.array([0, 1, 12345, -1, -(2**63), 2**63 - 1], np.int64)
    text, null = _text_keys(["0", "1", " 12345 ", "-1", str(-(2**63)), str(2**63 - 1)])
    assert not null.any()
    np.testing.assert_array_equal(keys_int64(ints, keys), text)
    # the integer key is SipHash-1-3 of the id's 8 bytes (9 with a zero byte when negative)
    k = derive_keys(SECRET)[:2].astype("<u8").tobytes()
    assert int(text[2]) == _siphash(k, (12345).to_bytes(8, "little"), 1, 3)
    assert int(text[3]) == _siphash(k, (2**64 - 1).to_bytes(8, "little") + b"\0", 1, 3)
    # uint64 ids, also >= 2**63, are the same devices as their decimal text
    big = np.array([12345, 2**63, 2**64 - 1], np.uint64)
    np.testing.assert_array_equal(
        keys_uint64(big, keys), _text_keys(["12345", str(2**63), str(2**64 - 1)])[0]
    )
    # -1 and 2**64 - 1 have the same bits but are different ids
    assert keys_uint64(np.array([2**64 - 1], np.uint64), keys)[0] != text[3]
    # non-canonical integers are text, which never equals an integer's key
    other, _ = _text_keys(["012345", "+12345", "-0", "12345.0", str(2**64), "1e5"])
    assert len(set(other.tolist()) | {int(text[2])}) == 7
    # another secret, other keys; no public function of the id
    assert not np.intersect1d(_text_keys(["12345", "abc"])[0],
                              _text_keys(["12345", "abc"], bytes(32))[0]).size  # fmt: skip
    off = np.array([0, 3], np.int32)
    assert keys_bytes(off, np.frombuffer(b"abc", np.uint8), np.zeros(1, bool), keys)[0][0] != 0


def test_blank_ids_are_null_devices_and_zero_is_an_id():
    keys, null = _text_keys(["", " ", "\t \r\n", None, "0", "a"])
    assert null.tolist() == [True, True, True, True, False, False]
    lon, lat = 4.0812, 44.1250
    df = pd.DataFrame({"device_id": ["", " ", "x", "0"], "timestamp": 1_591_000_000,
                       "lat": lat, "lon": lon})  # fmt: skip
    reasons = read_pings_of(df, "parquet")["reason"].tolist()
    assert reasons == ["null_device", "null_device", "", ""]
    ints = df.assign(device_id=[0, 0, 1, 0])
    assert read_pings_of(ints, "parquet")["reason"].tolist() == ["", "", "", ""]


def read_pings_of(df, fmt, **kw):
    global _N
    _N += 1
    path = _DIR / f"p{_N}.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")
    return read_pings(path, **kw)


@pytest.mark.parametrize("column", ["plain", "dictionary", "large_string", "csv"])
def test_int_text_uint64_and_uuid_ids_count_the_same(tmp_path, pings, column):
    reference = count(pings.assign(device_id=pings["device_id"].astype(np.int64)))
    text = pings.assign(device_id=pings["device_id"].astype(str))
    path = tmp_path / ("p.csv" if column == "csv" else "p.parquet")
    if column == "csv":
        text.to_csv(path, index=False)
    else:
        table = pa.Table.from_pandas(text, preserve_index=False)
        if column == "large_string":
            table = table.set_column(0, "device_id", table["device_id"].cast(pa.large_string()))
        pq.write_table(table, path, use_dictionary=column == "dictionary")
    same(count(path), reference)
    # ids >= 2**63 as uint64 and as text: one device each
    big = pings.assign(device_id=pings["device_id"].astype(np.uint64) + np.uint64(2**63))
    big.to_parquet(tmp_path / "u.parquet", index=False)
    big.assign(device_id=big["device_id"].astype(str)).to_csv(tmp_path / "u.csv", index=False)
    same(count(tmp_path / "u.parquet"), reference)
    same(count(tmp_path / "u.csv"), reference)
    # UUIDs as plain and dictionary-encoded text: the same count
    ids = np.array(
        [str(uuid.UUID(int=int(i) * 7919 + 1)) for i in range(pings["device_id"].max() + 1)]
    )
    uu = pings.assign(device_id=ids[pings["device_id"]])
    t = pa.Table.from_pandas(uu, preserve_index=False)
    pq.write_table(t, tmp_path / "a.parquet", use_dictionary=False)
    pq.write_table(t, tmp_path / "b.parquet", use_dictionary=True)
    same(count(tmp_path / "a.parquet"), reference)
    same(count(tmp_path / "b.parquet"), reference)


def test_dictionary_read_only_where_every_page_is_dictionary_encoded(tmp_path, pings):
    # issue 15: pyarrow falls back to plain pages once a dictionary page passes 1 MB
    # (many distinct ids); reading such a column as a dictionary re-encodes every value
    # (4-5x the plain read), so only a column dictionary-encoded throughout is.
    from footfall.ingest import _dictionary_column

    rng = np.random.default_rng(3)
    many = np.array([str(uuid.UUID(int=int(i))) for i in rng.integers(1, 2**62, 60_000)])
    few = many[rng.integers(0, 500, 60_000)]
    cases = {"fallback": (many, {}), "dictionary": (few, {}),
             "big page": (many, {"dictionary_pagesize_limit": 1 << 26}),
             "plain": (few, {"use_dictionary": False})}  # fmt: skip
    seen = {}
    for name, (ids, kw) in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"device_id": ids}), path, **kw)
        pf = pq.ParquetFile(path)
        assert pf.metadata.row_group(0).column(0).has_dictionary_page == (name != "plain")
        seen[name] = _dictionary_column(pf, "device_id")
    assert seen == {"fallback": False, "dictionary": True, "big page": True, "plain": False}
    # and the count is the same either way
    n = len(pings)
    ids = many[pings["device_id"].to_numpy() % len(many)]
    uu = pa.Table.from_pandas(pings.assign(device_id=ids[:n]), preserve_index=False)
    pq.write_table(uu, tmp_path / "f.parquet", dictionary_pagesize_limit=4096)
    pq.write_table(uu, tmp_path / "d.parquet", dictionary_pagesize_limit=1 << 26)
    pq.write_table(uu, tmp_path / "p.parquet", use_dictionary=False)
    ref = count(tmp_path / "p.parquet")
    same(count(tmp_path / "f.parquet"), ref)
    same(count(tmp_path / "d.parquet"), ref)


# --- timestamps ----------------------------------------------------------------------


def test_one_bad_timestamp_among_5000_is_one_quarantined_row(tmp_path, pings):
    ms = pings.assign(timestamp=pings["timestamp"] * 1000).astype({"timestamp": object})
    reference = count(ms.drop(index=10))
    ms.loc[10, "timestamp"] = "notatime"
    ms.to_csv(tmp_path / "p.csv", index=False)
    for source in (tmp_path / "p.csv", ms.astype({"timestamp": str})):
        if isinstance(source, pd.DataFrame):
            pa.Table.from_pandas(source, preserve_index=False).to_pandas().to_parquet(
                tmp_path / "s.parquet", index=False
            )
            source = tmp_path / "s.parquet"
        hourly = count(source)
        acc = hourly.attrs["manifest"]["accounting"]
        assert acc["quarantined"]["bad_timestamp"] == 1
        assert acc["rows_read"] == len(ms)
        assert_hourly_equal(hourly, reference)
    # a decimal millisecond value parses like a Parquet double: no row is lost
    ms.loc[10, "timestamp"] = f"{pings['timestamp'][10] * 1000}.5"
    ms.to_csv(tmp_path / "d.csv", index=False)
    assert (
        count(tmp_path / "d.csv").attrs["manifest"]["accounting"]["rows_quarantined"]
        == (reference.attrs["manifest"]["accounting"]["rows_quarantined"])
    )


def test_decimal_epochs_in_csv_count_like_parquet_doubles(tmp_path, pings):
    frac = np.random.default_rng(3).random(len(pings)).round(3)
    for scale in (1, 1000):
        dec = pings.assign(timestamp=pings["timestamp"] * scale + frac)
        dec.to_parquet(tmp_path / "d.parquet", index=False)
        text = dec["timestamp"].map(lambda v: f"{v:.3f}")
        dec.assign(timestamp=text).to_csv(tmp_path / "d.csv", index=False)
        same(count(tmp_path / "d.csv"), count(tmp_path / "d.parquet"))
        assert count(tmp_path / "d.csv").attrs["manifest"]["accounting"]["rows_in_zone"] > 1000


def test_iso_text_variants_and_extreme_epochs(tmp_path):
    lon, lat = 4.0812, 44.1250
    expect = pd.Timestamp("2020-06-01T08:30:15Z")
    values = ["2020-06-01T08:30:15Z", "2020-06-01 08:30:15", "2020-06-01T10:30:15+02:00",
              "2020-06-01T10:30:15.999+0200", "2020-06-01T03:30:15-05", "  2020-06-01t08:30:15z ",
              "1591000215", "1591000215000", "1591000215.5", "1.591000215e9"]  # fmt: skip
    bad = ["notatime", "2020-13-01T00:00:00Z", "2020-02-30", "2020-06-01T24:00:00",
           "2020-06-01T08:30:15+25:00", "1591000215.5.5", "--1", "",
           "2020-06-01T08:30:15Zx"]  # fmt: skip
    df = pd.DataFrame({"device_id": "a", "timestamp": values + bad, "lat": lat, "lon": lon})
    for fmt in ("csv", "parquet"):
        read = read_pings_of(df, fmt)
        ok = read.iloc[: len(values)]
        assert (ok["reason"] == "").all(), ok
        assert (ok["timestamp"] == expect).all(), ok["timestamp"]
        reasons = read["reason"].iloc[len(values) :].tolist()
        assert reasons == ["bad_timestamp"] * (len(bad) - 2) + ["null_timestamp", "bad_timestamp"]
    assert read_pings_of(df.iloc[[8]].assign(timestamp="2020-06-01"), "csv")["timestamp"][0] == (
        pd.Timestamp("2020-06-01", tz="UTC")
    )
    # extreme integers are implausible, never an overflow at the final write
    t = np.array([-(2**63) + 1, -(2**63), 2**63 - 1, 10**18, 1_591_000_215], np.int64)
    ext = pd.DataFrame({"device_id": 1, "timestamp": t, "lat": lat, "lon": lon})
    ext.to_parquet(tmp_path / "x.parquet", index=False)
    hourly = count(tmp_path / "x.parquet", out=tmp_path / "o" / "h.parquet")
    assert hourly.attrs["manifest"]["accounting"]["quarantined"]["implausible_timestamp"] == 4
    q = pd.read_parquet(tmp_path / "o" / "h.quarantine.parquet")
    assert q["timestamp"].isna().all()
    big = ext.assign(timestamp=["99999999999999999999", "-1e300", "1e400", "1591000215"] + ["1"])
    assert read_pings_of(big, "csv")["reason"].tolist() == ["implausible_timestamp"] * 3 + [
        "",
        "implausible_timestamp",
    ]


# --- files and columns ---------------------------------------------------------------


def test_tsv_bom_and_missing_column_lists_the_columns(tmp_path, pings):
    reference = count(pings)
    pings.to_csv(tmp_path / "p.tsv", index=False, sep="\t")
    same(count(tmp_path / "p.tsv"), reference)
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbf" + pings.to_csv(index=False).encode())
    same(count(tmp_path / "b.csv"), reference)
    pings.drop(columns="lat").to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ff.InputError, match=r"m\.csv: no lat column.*columns: 'device_id', "):
        count(tmp_path / "m.csv")


VENDOR = {"device_id": "MAID", "timestamp": "utc_timestamp", "lat": "Latitude",
          "lon": "lng", "accuracy_m": "horizontal_accuracy"}  # fmt: skip


def test_vendor_names_explicit_mapping_ambiguity_and_bad_keys(tmp_path, pings):
    acc = pings.assign(accuracy_m=np.float32(30.0))
    reference = count(acc)
    vendor = acc.rename(columns=VENDOR)
    vendor.to_csv(tmp_path / "v.csv", index=False)
    vendor.to_parquet(tmp_path / "v.parquet", index=False)
    for name in ("v.csv", "v.parquet"):
        same(count(tmp_path / name), reference)
    assert file_columns(tmp_path / "v.csv").describe() == (
        "device=MAID time=utc_timestamp lat=Latitude lon=lng accuracy=horizontal_accuracy"
    )
    same(count(vendor), reference)  # a DataFrame too
    # an explicit name wins over a recognised one
    two = vendor.assign(ts=vendor["utc_timestamp"] + 7 * 86400)
    two.to_parquet(tmp_path / "two.parquet", index=False)
    with pytest.raises(ff.InputError, match=r"several time columns: 'utc_timestamp', 'ts'"):
        count(tmp_path / "two.parquet")
    shifted = count(tmp_path / "two.parquet", columns={"time": "ts"})
    assert shifted["hour"].min() > reference["hour"].min() + pd.Timedelta(days=6)
    with pytest.raises(ff.InputError, match=r"unknown key 'dev'; valid keys: device, time, lat"):
        count(tmp_path / "v.csv", columns={"dev": "MAID"})
    assert Columns.of({"device": "x"}).describe() == "device=x time=- lat=- lon=- accuracy=-"


def test_max_accuracy_against_brute_force_and_in_the_manifest(tmp_path, pings):
    rng = np.random.default_rng(5)
    acc = pings.assign(accuracy_m=rng.choice([5.0, 50.0, 499.0, 500.0, 501.0, 2000.0, np.nan],
                                             len(pings)).astype(np.float32))  # fmt: skip
    path = tmp_path / "a.parquet"
    acc.to_parquet(path, index=False)
    hourly = count(path, max_accuracy=500)
    keep = acc[~(acc["accuracy_m"] > 500)]
    brute = count(keep.drop(columns="accuracy_m"))
    assert_hourly_equal(hourly, brute, check_panel=True)
    q = hourly.attrs["manifest"]["accounting"]["quarantined"]
    before = brute.attrs["manifest"]["accounting"]["quarantined"]
    assert q["low_accuracy"] == (acc["accuracy_m"] > 500).sum() - sum(
        (read_pings(path)["reason"] != "") & (acc["accuracy_m"] > 500).to_numpy()
    )
    assert sum(q.values()) == sum(before.values()) + len(acc) - len(keep)
    assert hourly.attrs["manifest"]["parameters"]["max_accuracy"] == 500
    assert count(path).attrs["manifest"]["parameters"]["max_accuracy"] is None


def test_cli_vendor_delivery_and_max_accuracy(tmp_path, pings):
    zones = tmp_path / "zones.geojson"
    small_zones().gdf.drop(columns="source", errors="ignore").to_file(zones, driver="GeoJSON")
    acc = pings.assign(accuracy_m=np.where(np.arange(len(pings)) % 10 == 0, 900.0, 20.0))
    acc.rename(columns=VENDOR).to_csv(tmp_path / "v.csv", index=False)
    out = tmp_path / "h.parquet"
    args = ["count", str(tmp_path / "v.csv"), "--zones", str(zones), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--max-accuracy", "500"])
    assert result.exit_code == 0, result.output
    assert "columns: device=MAID time=utc_timestamp lat=Latitude lon=lng" in result.output
    assert "low_accuracy" in result.output
    hourly = ff.read_hourly(out)
    assert hourly.attrs["manifest"]["parameters"]["max_accuracy"] == 500
    result = CliRunner().invoke(cli, [*args, "--device-col", "uid"])
    assert result.exit_code != 0 and "no column 'uid'" in result.output
    assert "MAID" in result.output and "Traceback" not in result.output


# --- privacy -------------------------------------------------------------------------


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        v = x.astype(np.uint64)
        v = (v ^ (v >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        v = (v ^ (v >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return v ^ (v >> np.uint64(31))


def _leaks(folder, ids: np.ndarray) -> list[str]:
    """Files under `folder` holding a raw id (8 LE bytes) or splitmix64(id)."""
    needles = [i.tobytes() for i in ids.astype("<i8")] + [
        h.tobytes() for h in _splitmix64(ids).astype("<u8")
    ]
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}" for n in needles if n in data]
    return found


def test_no_checkpoint_or_output_holds_an_id_or_its_splitmix64(tmp_path, pings):
    # large ids: 8-byte patterns that do not occur by chance
    ids = pings["device_id"].to_numpy().astype(np.int64) * 1_000_003 + 7_777_777_777
    df = pings.assign(device_id=ids)
    good = tmp_path / "in" / "a.parquet"
    good.parent.mkdir()
    df.to_parquet(good, index=False, compression="none")
    # a second file whose data pages are cut: the map fails after the first is checkpointed
    df.to_parquet(tmp_path / "in" / "b.parquet", index=False, compression="snappy")
    raw = bytearray((tmp_path / "in" / "b.parquet").read_bytes())
    raw[200:2000] = bytes(1800)
    (tmp_path / "in" / "b.parquet").write_bytes(bytes(raw))
    out = tmp_path / "out" / "h.parquet"
    with pytest.raises(ff.InputError, match="b.parquet"):
        count([good, tmp_path / "in" / "b.parquet"], out=out, workers=1)
    assert any(p.name == "secret" for p in (tmp_path / "out").rglob("*"))
    assert sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file()) >= 2  # checkpoints
    assert not _leaks(tmp_path / "out", np.unique(ids))
    hourly = count(good, out=out)  # success: only the outputs remain
    assert not _leaks(tmp_path / "out", np.unique(ids))
    assert len(hourly) and not any(p.is_dir() for p in (tmp_path / "out").iterdir())
    # the same ids as text, too
    df.assign(device_id=ids.astype(str)).to_csv(tmp_path / "in" / "c.csv", index=False)
    count(tmp_path / "in" / "c.csv", out=out)
    for path in (tmp_path / "out").iterdir():
        assert str(ids[0]).encode() not in path.read_bytes()


def test_run_secret_is_private_kept_and_redrawn_with_a_clean_folder(tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    s = run_secret(wd)
    assert len(s) >= 16 and (wd / "secret").stat().st_mode & 0o777 == 0o600
    (wd / "part-0").write_bytes(b"checkpoint")
    assert run_secret(wd) == s and (wd / "part-0").exists()
    (wd / "secret").write_bytes(b"short")
    assert run_secret(wd) != s and not (wd / "part-0").exists()
