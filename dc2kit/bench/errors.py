"""The benchmarks' typed error, raised by every layer that checks arguments or runs a child."""


class BenchError(ValueError):
    """A benchmark that cannot run as asked: bad arguments, or a child process that failed."""
