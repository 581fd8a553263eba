"""A branch's slug: the short, safe word a preview is named and served by (pure).

A branch name is whatever git accepts: `/`, upper case, `.`, unicode, 200 characters. Its
slug ends up in a DNS label (`<slug>.<preview_domain>`), a compose project, volume and
network names and Traefik's router names, so it is `[a-z0-9-]`, bounded and deterministic
(the same branch is the same preview at every push, on every machine).

Two branches never share a slug:
- a branch that already is a valid slug (and does not look like an altered one) is its own
  slug, unchanged: `feature-x` -> `feature-x`;
- any other branch (changed to fit, or cut) gets `-` and 8 hex digits of the SHA-256 of its
  full name appended: `Feature/X` -> `feature-x-1a2b3c4d`. An unchanged slug never ends in
  `-<8 hex digits>` (a branch that does is treated as changed), so the two forms never meet;
  two changed slugs are equal only when the hashes of two different names agree, which
  `lifecycle.check_slug_free` refuses at deploy time, against the live previews.

Parts that read as a release or the singletons' project (`r7`, `state`) get an `x` before
them (`xr7`, `xstate`): a preview's images are `<app>_<slug>-r<N>-<service>`, and a slug
`a-r1` would let release r2 of preview `a-r1` and release r1 of preview `a` (service
`r2-web`) build the same image name, as `core.names.validate_new_app_name` keeps apps apart.
"""

import hashlib
import re

MAX_SLUG = 24  # leaves a DNS label room for `<service>-<slug>` (63)
HASH_DIGITS = 8
MIN_SLUG = 4 + 1 + HASH_DIGITS  # a changed slug keeps at least 4 characters of the name
_CHANGED = re.compile(rf".*-[0-9a-f]{{{HASH_DIGITS}}}")
_RESERVED_PART = re.compile(r"r[0-9]+|state")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def branch_slug(branch: str, limit: int = MAX_SLUG) -> str:
    """The slug of a branch (its name without `refs/heads/`), at most `limit` characters."""
    return _slug(branch, limit, reserve_parts=True, empty="branch")


def label_slug(name: str, limit: int) -> str:
    """A compose service's name as part of a DNS label (`<service>-<slug>`): the same
    rules, without the release parts (a host name is no image name)."""
    return _slug(name, limit, reserve_parts=False, empty="service")


def _slug(name: str, limit: int, reserve_parts: bool, empty: str) -> str:
    if limit < MIN_SLUG:
        raise ValueError(f"a slug needs at least {MIN_SLUG} characters, not {limit}")
    parts = [p for p in _NOT_SLUG.split(name.lower()) if p]
    if reserve_parts:
        parts = ["x" + p if _RESERVED_PART.fullmatch(p) else p for p in parts]
    clean = "-".join(parts)
    if clean and clean == name and len(clean) <= limit and not _CHANGED.fullmatch(clean):
        return clean
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]
    room = limit - HASH_DIGITS - 1
    stem = clean[:room].rstrip("-")
    while reserve_parts and _RESERVED_PART.fullmatch(stem.rpartition("-")[2]):
        stem = stem[:-1].rstrip("-")  # the cut made `statement` a `state`
    return f"{stem or empty[:room]}-{digest}"


def is_slug(text: str) -> bool:
    """Whether `text` can be a slug at all (a name read back from a label or the state)."""
    return len(text) <= MAX_SLUG and bool(SLUG_RE.fullmatch(text)) and "--" not in text
