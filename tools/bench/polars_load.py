"""The polars peer: the same job as pandas_load.py (read the bench CSV, cast every column to the
contract's types, drop rows missing a required value, write a typed Parquet file), written the
way a polars user after speed would: a lazy scan, casts that give null on failure, one collect.

    python tools/bench/polars_load.py <csv> <out file without extension>
"""
import sys

from peer_common import REQUIRED, run_peer


def load(csv: str, out: str) -> dict:
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
    return {"rows": good.height, "bad": both.height - good.height, "target": "parquet"}


if __name__ == "__main__":
    sys.exit(run_peer("polars_load.py", load))
