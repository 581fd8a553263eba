"""A branch's slug: safe, bounded, deterministic, and never shared by two branches."""

import hashlib
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from otterstack_hooks.rules.preview.slug import (
    HASH_DIGITS,
    MAX_SLUG,
    MIN_SLUG,
    SLUG_RE,
    branch_slug,
    is_slug,
    label_slug,
)


def digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]


@pytest.mark.parametrize(("branch", "slug"), [
    ("feature-x", "feature-x"),
    ("fix2", "fix2"),
    ("Feature/X", f"feature-x-{digest('Feature/X')}"),
    ("feature/login", f"feature-login-{digest('feature/login')}"),
    ("release/r2", f"release-xr2-{digest('release/r2')}"),  # r<N> would read as a release
    ("state", f"xstate-{digest('state')}"),
    ("fëature", f"f-ature-{digest('fëature')}"),
    ("功能", f"branch-{digest('功能')}"),
    ("-x-", f"x-{digest('-x-')}"),
    ("a" * 30, f"{'a' * 15}-{digest('a' * 30)}"),
    # looks like a changed slug: changed itself, so the two forms never meet
    ("fix-1a2b3c4d", f"fix-1a2b3c4d-{digest('fix-1a2b3c4d')}"),
    # the cut made `statement` a reserved `state`: cut further
    ("abcdefghi-statement-and-more", f"abcdefghi-stat-{digest('abcdefghi-statement-and-more')}"),
])
def test_examples(branch, slug):
    assert branch_slug(branch) == slug


def test_a_service_name_keeps_its_release_looking_parts():
    assert label_slug("r2", 38) == "r2"
    assert label_slug("web_admin", 38) == f"web-admin-{digest('web_admin')}"


def test_a_limit_below_what_a_changed_slug_needs_is_a_bug():
    with pytest.raises(ValueError):
        branch_slug("x", MIN_SLUG - 1)


names = st.text(max_size=80) | st.from_regex(r"[a-z0-9][a-z0-9/_.-]{0,40}", fullmatch=True)
limits = st.integers(MIN_SLUG, MAX_SLUG)


@given(names, limits)
@example("r1", MAX_SLUG)
@example("x" * 15 + "-state", MAX_SLUG)
def test_every_slug_is_safe_bounded_and_reads_as_no_release(branch, limit):
    slug = branch_slug(branch, limit)
    assert SLUG_RE.fullmatch(slug) and "--" not in slug and len(slug) <= limit
    assert is_slug(slug)
    assert not any(re.fullmatch(r"r[0-9]+|state", part) for part in slug.split("-"))
    assert branch_slug(branch, limit) == slug  # deterministic


@given(names, names, limits)
@example("feature-x", "feature-x-" + digest("feature-x"), MAX_SLUG)
@example("a", "A", MAX_SLUG)
def test_two_branches_share_a_slug_only_when_their_hashes_collide(one, other, limit):
    """...and that, lifecycle.check_slug_free refuses against the live previews."""
    if one != other and branch_slug(one, limit) == branch_slug(other, limit):
        assert digest(one) == digest(other)


@given(names)
def test_a_branch_named_like_another_branchs_slug_gets_another_slug(branch):
    slug = branch_slug(branch)
    if slug != branch:
        assert branch_slug(slug) != slug
