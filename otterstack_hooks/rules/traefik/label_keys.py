"""Traefik's label keys, read as Traefik reads them: which label defines a router, service or
middleware (`traefik.<protocol>.<kind>.<name>.<option>`), and which label's value names
another definition (a router's service, its middlewares, a weighted service's members)."""

import re
from dataclasses import dataclass

_PROTOCOLS = frozenset({"http", "tcp", "udp"})
_KINDS = frozenset({"routers", "services", "middlewares"})
NAME = re.compile(r"[A-Za-z0-9_-]+")  # a name a label may define
RENAMED = re.compile(r"[A-Za-z0-9_~-]+")  # and as a release renamed it (release_names.py)
_SERVICE_REFERENCE = re.compile(
    r"weighted\.services\[\d+\]\.name|mirroring\.service|mirroring\.mirrors\[\d+\]\.name"
    r"|failover\.(?:service|fallback)"
)


class LabelError(ValueError):
    """A compose service's Traefik labels can't be made release-unique as written."""


def label_error(service: str, key: str, message: str) -> LabelError:
    """Errors always name where the problem is, so the user can find the label."""
    return LabelError(f"compose service {service!r}, label {key!r}: {message}")


@dataclass(frozen=True)
class Label:
    """A definition label `traefik.<proto>.<kind>.<name>.<rest>`, split so it can be renamed."""

    head: str
    proto: str
    kind: str
    name: str
    rest: str

    def key(self, name: str) -> str:
        """The label key with the defined name replaced, everything else as written."""
        return f"{self.head}{name}.{self.rest}"


def parse_label(service: str, key: str, names: re.Pattern[str] = NAME) -> Label | None:
    """Split a definition label; None for labels that define nothing (kept byte-for-byte).
    LabelError for a definition Traefik could not read, or whose name is not `names`."""
    parts = key.split(".", 4)
    if len(parts) < 3 or parts[0] != "traefik":
        return None
    proto, kind = parts[1].lower(), parts[2].lower()
    if proto not in _PROTOCOLS or kind not in _KINDS or (proto, kind) == ("udp", "middlewares"):
        return None
    if len(parts) < 5 or not parts[4] or not names.fullmatch(parts[3]):
        raise label_error(
            service,
            key,
            f"expected traefik.{proto}.{kind}.<name>.<option> where <name> uses only letters, "
            "digits, '_' and '-'; fix or remove the label",
        )
    return Label(".".join(parts[:3]) + ".", proto, kind, parts[3], parts[4])


def reference_kind(label: Label) -> tuple[str, bool] | None:
    """Kind of name a label's value refers to and whether the value is a list, if any."""
    attribute = label.rest.lower()
    if label.kind == "routers" and attribute == "service":
        return "services", False
    if label.kind == "routers" and attribute == "middlewares" and label.proto != "udp":
        return "middlewares", True
    if label.kind == "services" and _SERVICE_REFERENCE.fullmatch(attribute):
        return "services", False
    if (label.proto, label.kind, attribute) == ("http", "middlewares", "chain.middlewares"):
        return "middlewares", True
    if (label.proto, label.kind, attribute) == ("http", "middlewares", "errors.service"):
        return "services", False
    return None


def names_a_service(key: str) -> bool:
    """Whether a label's value names a Traefik service: a router's `service`, a weighted,
    mirroring or failover member, an errors middleware's `service` (where `api@internal`
    would reach Traefik's own API). Read as Traefik reads keys: in any case."""
    parts = key.split(".", 4)
    if len(parts) < 5 or parts[0].lower() != "traefik":
        return False
    label = Label("", parts[1].lower(), parts[2].lower(), parts[3], parts[4])
    return reference_kind(label) == ("services", False)


def split_list(value: str) -> list[str]:
    """Items of a comma-separated label value, spaces and empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]
