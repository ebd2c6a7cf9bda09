"""The benchmarks' typed error, raised by every layer that checks arguments or runs a child."""

from dc2kit.errors import Dc2kitError


class BenchError(Dc2kitError, ValueError):
    """A benchmark that cannot run as asked: bad arguments, or a child process that failed."""
