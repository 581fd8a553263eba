"""Go's durations as Traefik reads them ("200ms", "1m30s", "1.5s", or a bare number of
seconds): the one parser of a duration OtterStack passes to Traefik or reads from one."""

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds of a Traefik duration: Go's form ("200ms", "1m30s", "1.5s") or a bare number
    of seconds ("2", 2), as Traefik reads `providersThrottleDuration` and
    `providers.swarm.refreshSeconds`. ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {text!r} (e.g. 200ms, 1s, 2)")
    return sum(float(n) * _UNIT[u] for n, u in parts)


def format_seconds(seconds: float) -> str:
    """0.2 -> '200ms', 2.0 -> '2s', 1.5 -> '1.5s': the way Traefik's flags write them."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
