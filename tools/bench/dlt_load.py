"""The dlt peer: the same job as pandas_load.py, the way dlt's docs load a large file:
pyarrow reads the CSV in batches with the contract's types, rows missing a required value are
dropped, and dlt loads the Arrow batches into a DuckDB file (its pipeline state in a folder of
its own, telemetry off).

    python tools/bench/dlt_load.py <csv> <out file without extension>
"""
import functools
import os
import shutil
import sys

from peer_common import REQUIRED, run_peer


def load(csv: str, out: str) -> dict:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    state = f"{out}.dlt"
    shutil.rmtree(state, ignore_errors=True)
    import dlt  # timed: part of the stack's cost
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    types = {
        "id": pa.int64(),
        "name": pa.string(),
        "email": pa.string(),
        "country": pa.string(),
        "signup_date": pa.date32(),
        "last_login": pa.timestamp("us"),
        "amount": pa.float64(),
        "category": pa.string(),
        "active": pa.bool_(),
    }
    counts = {"rows": 0, "bad": 0}

    @dlt.resource(name="bench", write_disposition="replace")
    def batches():
        reader = pv.open_csv(
            csv,
            read_options=pv.ReadOptions(block_size=16 << 20),
            convert_options=pv.ConvertOptions(column_types=types, timestamp_parsers=["%Y-%m-%d %H:%M:%S"]),
        )
        for batch in reader:
            table = pa.Table.from_batches([batch])
            ok = functools.reduce(pc.and_kleene, [pc.is_valid(table[c]) for c in REQUIRED])
            good = table.filter(ok)
            counts["rows"] += good.num_rows
            counts["bad"] += table.num_rows - good.num_rows
            yield good

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=state,
        destination=dlt.destinations.duckdb(f"{out}.duckdb"),
        dataset_name="bench",
    )
    pipeline.run(batches())
    shutil.rmtree(state, ignore_errors=True)
    return {**counts, "target": "duckdb"}


if __name__ == "__main__":
    sys.exit(run_peer("dlt_load.py", load))
