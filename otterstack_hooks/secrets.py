"""Per-app environment variables (secrets), stored outside the repo in a 0600 file.

They reach every service of the app as environment variables (an `env_file` in the generated
override) and Compose's `${VAR}` interpolation (`--env-file`). Values are never shown unless
asked for, and every known value is redacted from progress output and logs.
"""

import os
import re
from pathlib import Path

from .errors import OtterError
from .names import printable

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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
    return key


def validate_value(key: str, value: str) -> str:
    if "\x00" in value or "\r" in value:
        raise OtterError(f"the value of {key} contains a NUL byte or a carriage return")
    if "'" in value and ("\n" in value or "$" in value or "\\" in value):
        raise OtterError(f"the value of {key} mixes ' with newlines, $ or \\; Compose's env "
                         "files cannot hold that combination")
    return value


def encode(key: str, value: str) -> str:
    """One line of a Compose env file: single quotes are literal (no ${} interpolation)."""
    if "'" not in value and "\n" not in value:
        return f"{key}='{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{key}="{escaped}"'


def decode(line: str) -> tuple[str, str] | None:
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
    return "".join(encode(k, v) + "\n" for k, v in sorted(values.items()))


def load(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return dict(item for item in map(decode, text.split("\n")) if item)


def save(path: Path, values: dict[str, str]) -> None:
    """Write atomically, 0600 from the first byte, never world-readable even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render(values))
    tmp.replace(path)


def redactor(values: dict[str, str]):
    """A function that hides every known secret value in a text."""
    secrets = sorted((v for v in values.values() if len(v) >= MIN_REDACT), key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    return redact
