"""What the Python peers of `npm run bench` share: the contract's required columns, and the frame
every peer runs in (arguments, the timing, the process's peak memory, the one JSON line)."""
import json
import resource
import sys
import time
from typing import Callable

REQUIRED = ["id", "name", "email", "country", "signup_date", "amount", "category", "active"]


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the whole process's high-water mark, imports included.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_peer(name: str, load: Callable[[str, str], dict]) -> int:
    """`load(csv, out)` does the job (its imports inside, so they are timed) and returns
    {"rows", "bad", "target"}; prints them with "ms" and "peakRssMb" as one JSON object."""
    if len(sys.argv) != 3:
        print(f"usage: {name} <csv> <out file without extension>", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = load(sys.argv[1], sys.argv[2])
    result["ms"] = (time.perf_counter() - started) * 1000
    result["peakRssMb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0
