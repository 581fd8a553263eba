"""Parsing post-receive input and deciding what a push deploys."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import ZERO_SHA
from otterstack_hooks.rules.push import PreviewPush, RefUpdate, parse_ref_updates, plan_push

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_parses_lines_and_deploys_the_branch_once():
    updates = parse_ref_updates(f"{A} {B} refs/heads/main\n{A} {C} refs/tags/v1\n")
    plan = plan_push(updates, "main")
    assert plan.deploy == RefUpdate(A, B, "refs/heads/main")
    assert plan.notes == ("tag refs/tags/v1 accepted, not deployed (only main deploys)",)


def test_other_branch_and_deletion_do_not_deploy():
    plan = plan_push(parse_ref_updates(f"{A} {B} refs/heads/dev\n{A} {ZERO_SHA} refs/heads/main"),
                     "main")
    assert plan.deploy is None
    assert "refs/heads/dev accepted, not deployed" in plan.notes[0]
    assert "branch main deleted" in plan.notes[1]


def test_ref_names_with_spaces_and_shell_syntax_are_kept_verbatim_but_printed_safely():
    ref = "refs/heads/$(rm -rf /) 'x' \x1b[31m"
    plan = plan_push(parse_ref_updates(f"{A} {B} {ref}"), "main")
    assert plan.deploy is None
    assert "\x1b" not in plan.notes[0] and "$(rm -rf /)" in plan.notes[0]


@pytest.mark.parametrize("line", ["garbage", f"{A} {B}", f"{A[:-1]} {B} refs/heads/main",
                                  f"{A} {B.upper()} refs/heads/main"])
def test_malformed_input_is_a_clear_error(line):
    with pytest.raises(OtterError, match="is not '<old-sha> <new-sha> <ref>'"):
        parse_ref_updates(line)


shas = st.text("0123456789abcdef", min_size=40, max_size=40)
refs = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"),
               min_size=1, max_size=60).filter(lambda r: r.strip() == r and r)


@given(st.lists(st.tuples(shas, shas, refs), max_size=8), st.sampled_from(["main", "prod"]))
def test_any_valid_input_parses_and_deploys_at_most_the_branch(lines, branch):
    text = "".join(f"{o} {n} {r}\n" for o, n, r in lines)
    updates = parse_ref_updates(text)
    assert [(u.old, u.new, u.ref) for u in updates] == lines
    plan = plan_push(updates, branch)
    wanted = [u for u in updates if u.ref == f"refs/heads/{branch}" and u.new != ZERO_SHA]
    assert plan.deploy == (wanted[-1] if wanted else None)
    assert all(n.isprintable() for n in plan.notes)


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_parser(text):
    try:
        parse_ref_updates(text)
    except OtterError:
        pass


def test_with_previews_every_other_branch_is_a_preview_to_deploy_or_remove():
    text = (f"{A} {B} refs/heads/main\n{A} {C} refs/heads/feature/x\n"
            f"{A} {ZERO_SHA} refs/heads/old\n{A} {C} refs/tags/v1\n{A} {C} refs/notes/x\n"
            f"{A} {C} refs/heads/Main\n")
    plan = plan_push(parse_ref_updates(text), "main", previews=True)
    assert plan.deploy == RefUpdate(A, B, "refs/heads/main")
    assert plan.previews == (
        PreviewPush("feature/x", RefUpdate(A, C, "refs/heads/feature/x")),
        PreviewPush("old", RefUpdate(A, ZERO_SHA, "refs/heads/old")),
        PreviewPush("Main", RefUpdate(A, C, "refs/heads/Main")))  # only the exact ref is main
    assert [p.removal for p in plan.previews] == [False, True, False]
    assert plan.notes == ("tag refs/tags/v1 accepted, not deployed (only main deploys)",
                          "ref refs/notes/x accepted, not deployed (only main deploys)")


def test_deleting_the_deploy_branch_never_removes_production_with_previews_on():
    plan = plan_push(parse_ref_updates(f"{A} {ZERO_SHA} refs/heads/main"), "main", previews=True)
    assert plan.deploy is None and plan.previews == ()
    assert plan.notes == ("branch main deleted: nothing deployed, the running release stays",)


@given(st.lists(st.tuples(shas, shas, refs), max_size=8), st.sampled_from(["main", "prod"]))
def test_previews_change_nothing_of_production_and_take_exactly_the_other_branches(lines,
                                                                                  branch):
    updates = parse_ref_updates("".join(f"{o} {n} {r}\n" for o, n, r in lines))
    off, on = plan_push(updates, branch), plan_push(updates, branch, previews=True)
    assert on.deploy == off.deploy and off.previews == ()
    others = [u for u in updates if u.ref.startswith("refs/heads/")
              and u.ref != f"refs/heads/{branch}"]
    assert [p.update for p in on.previews] == others
    assert len(on.notes) == len(off.notes) - len(others)
