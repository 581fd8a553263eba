"""Traefik's own words about a router, read from its log: why a router never appeared."""

import json
import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CONSOLE_ERROR = re.compile(r"\s(?:ERR|ERROR)\s+(.+?)\s+\w+=")


def log_reason(lines: list[str], router: str) -> str | None:
    """Traefik's own words (the last error it logged) about a router, e.g. "HTTP router
    defined multiple times with different configurations"; None if it said nothing. Reads
    both of Traefik's log formats (console, the default, and json)."""
    names = {router, f"{router}@docker", f"{router}@swarm"}
    found = None
    for raw in lines:
        line = _ANSI.sub("", raw).strip()
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (isinstance(entry, dict) and entry.get("level") == "error"
                    and entry.get("routerName") in names):
                found = str(entry.get("message") or entry.get("error") or "error")
            continue
        if not re.search(rf"routerName={re.escape(router)}(?:@docker|@swarm)?(?:\s|$)", line):
            continue
        match = _CONSOLE_ERROR.search(line)
        if match:
            found = match.group(1).strip()
    return found
