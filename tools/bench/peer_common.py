"""What the Python peers of `npm run bench` share: the contract's required columns and the
process's peak memory."""
import resource

REQUIRED = ["id", "name", "email", "country", "signup_date", "amount", "category", "active"]


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the whole process's high-water mark, imports included.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
