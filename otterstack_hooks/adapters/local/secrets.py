"""Per-app environment variables (secrets), stored outside the repo in a 0600 file.

They reach Compose as its process environment (so `${VAR}` interpolation sees them) and
every service as `environment: [KEY]` entries of the generated override, which Compose fills
from that environment byte for byte. No value is ever written to a dotenv file Compose
re-parses (its quoting rules lost a trailing backslash and the variable after it), put on a
command line, or shown unless asked for; every known value is redacted from progress output
and logs.

The store is JSON (exact for any string); files written by older versions (KEY='value'
lines) are still read, and rewritten as JSON by the next `env set` or `env unset`.
"""

import json
import os
import re
from pathlib import Path

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names that steer docker and Compose themselves once they are in Compose's environment.
RESERVED_RE = re.compile(r"(COMPOSE_|DOCKER_|BUILDKIT_|BUILDX_).*|PATH|HOME")
REDACTED = "***"
MIN_REDACT = 4  # shorter values would redact ordinary words


def parse_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise OtterError(f"{printable(text)!r} is not KEY=VALUE")
    return validate_key(key), validate_value(key, value)


def validate_key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        raise OtterError(f"invalid variable name {printable(key)!r}: use letters, digits and _, "
                         "not starting with a digit")
    if RESERVED_RE.fullmatch(key):
        raise OtterError(f"variable name {key} is reserved: it would steer docker or Compose "
                         "itself (COMPOSE_*, DOCKER_*, BUILDKIT_*, BUILDX_*, PATH, HOME); "
                         "choose another name")
    return key


def validate_value(key: str, value: str) -> str:
    """Anything an environment variable can hold: every string without a NUL byte."""
    if "\x00" in value:
        raise OtterError(f"the value of {key} contains a NUL byte, which no environment "
                         "variable can hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OtterError(f"the value of {key} is not valid UTF-8; give it as UTF-8 text") from exc
    return value


def for_compose(values: dict[str, str]) -> dict[str, str]:
    """The variables that go into Compose's environment: reserved names (stored by an older
    version) are left out, so a secret can never redirect Compose to another project."""
    return {k: v for k, v in values.items() if not RESERVED_RE.fullmatch(k) and "\x00" not in v}


def _decode_legacy(line: str) -> tuple[str, str] | None:
    """A KEY='value' / KEY="value" line of the env files older versions wrote."""
    key, sep, raw = line.partition("=")
    if not sep or not KEY_RE.fullmatch(key):
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return key, raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out, chars = [], iter(raw[1:-1])
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "")
                out.append("\n" if nxt == "n" else nxt)
            else:
                out.append(ch)
        return key, "".join(out)
    return key, raw


def render(values: dict[str, str]) -> str:
    return json.dumps(dict(sorted(values.items())), indent=1, ensure_ascii=False) + "\n"


def parse(text: str) -> dict[str, str]:
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OtterError(f"the app's env file is damaged ({exc}); fix it by hand or "
                             "remove it and set the variables again") from exc
        return {str(k): str(v) for k, v in data.items()}
    return dict(item for item in map(_decode_legacy, text.split("\n")) if item)


def load(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse(text)


def save(path: Path, values: dict[str, str]) -> None:
    """Write atomically, 0600 from the first byte, never world-readable even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render(values))
    tmp.replace(path)


def load_names(path: Path) -> list[str]:
    """A list of variable names kept as an env file of empty values (the names of
    production's variables an admin shared with the app's previews)."""
    return sorted(load(path))


def save_names(path: Path, names: list[str]) -> None:
    save(path, dict.fromkeys(sorted(names), ""))


def redactor(values: dict[str, str]):
    """A function that hides every known secret value in a text.

    Output reaches us line by line and shown as printable text cut at 300 characters, so each
    line of a multi-line value is a secret of its own, so is its printable form, and a line
    cut short ("...") must not end in the first part of a secret either."""
    pieces: set[str] = set()
    for value in values.values():
        for piece in value.splitlines() or [value]:
            pieces.update((piece, printable(piece, len(piece) + 1)))
    secrets = sorted((p for p in pieces if len(p) >= MIN_REDACT), key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        if text.endswith("..."):
            body = text[:-3]
            for secret in secrets:
                cut = next((n for n in range(len(secret) - 1, MIN_REDACT - 1, -1)
                            if body.endswith(secret[:n])), 0)
                if cut:
                    return body[:-cut] + REDACTED + "..."
        return text

    return redact
