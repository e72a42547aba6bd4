"""The pandas comparison: read the bench CSV, cast every column to the same types as the
pipeline's contract (integer, string, date, timestamp, number, category text, boolean), check
required values, and write a typed columnar file (parquet via pyarrow when installed, else a
pickle). Prints one JSON object: {"ms": ..., "rows": ..., "target": "parquet"|"pickle"}.

    python tools/bench/pandas_load.py <csv> <out file without extension>
"""
import json
import sys
import time

from peer_common import peak_rss_mb


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: pandas_load.py <csv> <out>", file=sys.stderr)
        return 2
    csv, out = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    import pandas as pd  # timed: part of the stack's cost, like DuckDB's start-up

    df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    typed = pd.DataFrame(
        {
            "id": pd.to_numeric(df["id"], errors="coerce").astype("Int64"),
            "name": df["name"],
            "email": df["email"],
            "country": df["country"],
            "signup_date": pd.to_datetime(df["signup_date"], format="%Y-%m-%d", errors="coerce").dt.date,
            "last_login": pd.to_datetime(df["last_login"], format="%Y-%m-%d %H:%M:%S", errors="coerce"),
            "amount": pd.to_numeric(df["amount"], errors="coerce"),
            "category": df["category"],
            "active": df["active"].str.lower().map({"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}),
        }
    )
    required = ["id", "name", "email", "country", "signup_date", "amount", "category", "active"]
    bad = typed[required].isna().any(axis=1)
    good = typed[~bad]
    try:
        import pyarrow  # noqa: F401

        target = "parquet"
        good.to_parquet(f"{out}.parquet", index=False)
    except ImportError:
        target = "pickle"
        good.to_pickle(f"{out}.pkl")
    ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"ms": ms, "rows": int(len(good)), "bad": int(bad.sum()), "target": target, "peakRssMb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
