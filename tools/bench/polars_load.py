"""The polars comparison: the same job as pandas_load.py (read the bench CSV, cast every column to
the contract's types, drop rows missing a required value, write a typed Parquet file), written the
way a polars user after speed would: a lazy scan, casts that give null on failure, one collect.
Prints one JSON object: {"ms": ..., "rows": ..., "bad": ..., "target": "parquet", "peakRssMb": ...}.

    python tools/bench/polars_load.py <csv> <out file without extension>
"""
import json
import sys
import time

from peer_common import REQUIRED, peak_rss_mb


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: polars_load.py <csv> <out>", file=sys.stderr)
        return 2
    csv, out = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    import polars as pl  # timed: part of the stack's cost, like DuckDB's start-up

    flags = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
    typed = pl.scan_csv(csv, infer_schema=False).select(
        pl.col("id").cast(pl.Int64, strict=False),
        "name",
        "email",
        "country",
        pl.col("signup_date").str.to_date("%Y-%m-%d", strict=False),
        pl.col("last_login").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False),
        pl.col("amount").cast(pl.Float64, strict=False),
        "category",
        pl.col("active").str.to_lowercase().replace_strict(flags, default=None, return_dtype=pl.Boolean),
    )
    ok = pl.all_horizontal([pl.col(c).is_not_null() for c in REQUIRED])
    both = typed.with_columns(ok.alias("_ok")).collect()
    good = both.filter(pl.col("_ok")).drop("_ok")
    good.write_parquet(f"{out}.parquet")
    ms = (time.perf_counter() - started) * 1000
    bad = both.height - good.height
    print(json.dumps({"ms": ms, "rows": good.height, "bad": bad, "target": "parquet", "peakRssMb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
