"""The pandas peer: read the bench CSV, cast every column to the same types as the pipeline's
contract (integer, string, date, timestamp, number, category text, boolean), check required
values, and write a typed Parquet file (pyarrow).

    python tools/bench/pandas_load.py <csv> <out file without extension>
"""
import sys

from peer_common import REQUIRED, run_peer


def load(csv: str, out: str) -> dict:
    import pandas as pd  # timed: part of the stack's cost, like DuckDB's start-up

    df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    flags = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
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
            "active": df["active"].str.lower().map(flags),
        }
    )
    bad = typed[REQUIRED].isna().any(axis=1)
    good = typed[~bad]
    good.to_parquet(f"{out}.parquet", index=False)
    return {"rows": int(len(good)), "bad": int(bad.sum()), "target": "parquet"}


if __name__ == "__main__":
    sys.exit(run_peer("pandas_load.py", load))
