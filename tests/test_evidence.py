"""Knowledge an agent can trust: plain data, evidence, decay with a half-life, provenance.

The figures here are computed from the README's rule, "confidence = c / (c + x + 2), each count
weighed by 0.5 ** (age of its latest event / half-life)", not from the code's constants.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import pickle
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitememory_plugin import Evidence, SiteMemory
from sitememory_plugin._core.evidence import DEFAULT_HALF_LIFE, age, freshness
from sitememory_plugin._core.merge import merge
from sitememory_plugin._core.models import SiteProfile
from sitememory_plugin._core.prompt import render_context
from sitememory_plugin._core.updates import (
    CachePattern,
    CacheSelector,
    QuirkResult,
    QuirkSeen,
    SelectorResult,
    apply_all,
)

URL = "https://shop.example/search"
DAY = 86400.0
NOW = 1_800_000_000.0
ORIGIN = "store-a"


def profile_of(*updates: object) -> SiteProfile:
    return apply_all(SiteProfile("shop.example"), updates, ORIGIN)  # type: ignore[arg-type]


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[SiteMemory]:
    with SiteMemory(tmp_path / "store", durability="none", agent="agent-1") as memory:
        yield memory


# -- plain data ------------------------------------------------------------------------------


def test_what_the_memory_returns_is_plain_data(memory: SiteMemory) -> None:
    actions = [{"action": "fill", "purpose": "search box", "value": "{query}"}, {"press": ["Enter", 1]}]
    memory.cache_action_pattern_sync(URL, "search", actions)
    memory.cache_selector_sync(URL, "search box", "#q", ["input[name=q]"])
    memory.record_quirk_sync(URL, "cookie banner", "click #accept")
    profile = memory.get_profile_sync(URL)
    assert profile is not None
    pattern = profile.patterns["search"]
    assert pattern.actions == actions  # the list that was stored, not a tuple of proxies
    assert json.loads(json.dumps(pattern.actions)) == actions
    assert isinstance(profile.selectors, dict) and isinstance(pattern.actions, list)
    plain = dataclasses.asdict(profile)
    assert json.loads(json.dumps(plain, default=str))["patterns"]["search"]["actions"] == actions
    assert pickle.loads(pickle.dumps(profile)) == profile
    assert copy.deepcopy(profile) == profile
    json.dumps(profile.to_dict())


def test_a_returned_profile_cannot_be_changed_under_other_readers(memory: SiteMemory) -> None:
    memory.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
    memory.cache_selector_sync(URL, "search box", "#q")
    profile = memory.get_profile_sync(URL)
    assert profile is not None
    with pytest.raises(TypeError, match="read-only"):
        profile.selectors["other"] = profile.selectors["search box"]  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        profile.patterns["search"].actions.append({"click": "#evil"})  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="read-only"):
        profile.patterns["search"].actions[0]["click"] = "#evil"
    # A copy is plain and editable, and the memory's own state is untouched.
    mine = profile.patterns["search"].actions.copy()  # type: ignore[attr-defined]
    assert type(mine) is list and type(profile.selectors.copy()) is dict  # type: ignore[attr-defined]
    mine.append({"click": "#mine"})
    assert mine != profile.patterns["search"].actions
    again = memory.get_profile_sync(URL)
    assert again is not None and again.patterns["search"].actions == [{"click": "#go"}]


# -- confidence and decay ----------------------------------------------------------------------


def test_confidence_is_the_shrunk_rate_of_counts_weighed_by_age() -> None:
    fresh = Evidence(NOW, NOW, None, 3, 0)
    assert fresh.confidence(NOW) == pytest.approx(3 / 5)
    one_half_life = Evidence(NOW - DEFAULT_HALF_LIFE, NOW - DEFAULT_HALF_LIFE, None, 3, 0)
    assert one_half_life.confidence(NOW) == pytest.approx(1.5 / 3.5)
    contradicted = Evidence(NOW, NOW, NOW, 3, 1)
    assert contradicted.confidence(NOW) == pytest.approx(3 / 6)
    old_contradiction = Evidence(NOW, NOW, NOW - 2 * DEFAULT_HALF_LIFE, 3, 4)
    assert old_contradiction.confidence(NOW) == pytest.approx(3 / (3 + 1 + 2))
    # Another half-life is another weighing of the same evidence.
    assert one_half_life.confidence(NOW, half_life=DEFAULT_HALF_LIFE / 2) == pytest.approx(0.75 / 2.75)
    # Imported and not confirmed here: its confirmations count for nothing.
    assert Evidence(NOW, NOW, None, 50, 0, imported=True).confidence(NOW) == 0.0
    assert Evidence().confidence(NOW) == 0.0


def test_evidence_seconds_apart_weighs_the_same_so_ties_stay_ties() -> None:
    a = Evidence(NOW, NOW - 5, None, 2, 0)
    b = Evidence(NOW, NOW - 65, None, 2, 0)
    assert a.confidence(NOW) == b.confidence(NOW)


def test_a_selector_that_worked_yesterday_outranks_one_that_worked_often_a_year_ago() -> None:
    year_ago, yesterday = NOW - 365 * DAY, NOW - DAY
    history: list[object] = [CacheSelector("search box", "#old", ("#new",), year_ago - 1)]
    history += [SelectorResult("search box", "#old", True, year_ago + i) for i in range(50)]
    before = profile_of(*history).selectors["search box"]
    assert before.ranked() == ("#old", "#new")
    later = profile_of(*history, SelectorResult("search box", "#new", True, yesterday))
    after = later.selectors["search box"]
    assert after.ranked() == ("#new", "#old")
    old, new = after.stats("#old"), after.stats("#new")
    assert old.confidence(NOW) < 0.01 < 0.3 < new.confidence(NOW)
    # Without decay (the same history a moment after the year-old results) 50 of 50 would win.
    fresh = profile_of(*history, SelectorResult("search box", "#new", True, year_ago + 60))
    assert fresh.selectors["search box"].ranked() == ("#old", "#new")


def test_the_ranking_weighs_by_the_memorys_half_life(tmp_path: Path) -> None:
    history: list[object] = [CacheSelector("p", "#a", ("#b",), NOW - 10 * DAY)]
    history += [SelectorResult("p", "#a", True, NOW - 10 * DAY) for _ in range(4)]
    history += [SelectorResult("p", "#b", True, NOW), SelectorResult("p", "#b", True, NOW)]
    # #a: 4 successes 10 days ago; #b: 2 successes now.
    slow = [dataclasses.replace(u, half_life=365 * DAY) for u in history]  # type: ignore[type-var]
    quick = [dataclasses.replace(u, half_life=DAY) for u in history]  # type: ignore[type-var]
    assert profile_of(*slow).selectors["p"].ranked() == ("#a", "#b")
    assert profile_of(*quick).selectors["p"].ranked() == ("#b", "#a")


def test_half_life_is_checked() -> None:
    with pytest.raises(ValueError, match="half_life"):
        SiteMemory("/nonexistent", half_life=0)
    with pytest.raises(TypeError, match="half_life"):
        SiteMemory("/nonexistent", half_life="30d")  # type: ignore[arg-type]


def test_freshness_says_how_old_the_evidence_is() -> None:
    assert freshness(Evidence(NOW - 9 * DAY, NOW - 3 * DAY, None, 2, 0), NOW) == "confirmed 3 d ago"
    assert freshness(Evidence(NOW, NOW - 90, NOW - 30, 2, 1), NOW) == (
        "confirmed 1 min ago, contradicted 30 s ago")
    assert freshness(Evidence(NOW - 7200, None, None, 0, 0), NOW) == "seen 2 h ago, never confirmed"
    assert freshness(Evidence(NOW, NOW, None, 5, 0, imported=True), NOW) == "imported, not confirmed here"
    assert age(400 * DAY) == "13 mo"


# -- provenance --------------------------------------------------------------------------------


def test_each_entry_names_the_agent_that_reported_it_first(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with SiteMemory(store, agent="crawler-7") as first:
        first.cache_selector_sync(URL, "search box", "#q")
        first.record_quirk_sync(URL, "cookie banner", "click #accept")
        first.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
    with SiteMemory(store, agent="crawler-8") as second:
        second.record_selector_result_sync(URL, "search box", "#q", True)
        second.record_selector_result_sync(URL, "search box", "#fallback", True)
        second.record_quirk_sync(URL, "cookie banner")
        profile = second.get_profile_sync(URL)
    assert profile is not None
    selector = profile.selectors["search box"]
    assert selector.stats("#q").origin == "crawler-7" and selector.stats("#q").ok == 1
    assert selector.stats("#fallback").origin == "crawler-8"
    assert profile.quirks[0].origin == "crawler-7" and profile.quirks[0].occurrences == 2
    assert profile.patterns["search"].origin == "crawler-7"


def test_the_default_agent_is_the_environments_or_host_and_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITEMEMORY_AGENT", raising=False)
    assert SiteMemory(tmp_path).agent == f"{socket.gethostname()}:{os.getpid()}"
    monkeypatch.setenv("SITEMEMORY_AGENT", "nightly-run")
    assert SiteMemory(tmp_path).agent == "nightly-run"
    with pytest.raises(ValueError, match="agent"):
        SiteMemory(tmp_path, agent="x" * 101)


def test_an_import_is_unconfirmed_here_until_an_agent_here_confirms_it(tmp_path: Path) -> None:
    export = tmp_path / "a.jsonl"
    with SiteMemory(tmp_path / "a", agent="agent-a") as a:
        for _ in range(5):
            a.record_selector_result_sync(URL, "search box", "#q", True)
        a.record_quirk_sync(URL, "cookie banner", "click #accept")
        a.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
        a.export_sync(export)
    with SiteMemory(tmp_path / "b", agent="agent-b") as b:
        b.import_jsonl_sync(export)
        profile = b.get_profile_sync(URL)
        assert profile is not None
        q = profile.selectors["search box"].stats("#q")
        assert q.imported and q.ok == 5 and q.origin == "agent-a"  # its evidence, kept
        assert q.confidence(NOW) == 0.0 and profile.quirks[0].imported and profile.patterns["search"].imported
        assert "imported, not confirmed here" in b.get_context_for_prompt_sync(URL)
        b.record_selector_result_sync(URL, "search box", "#q", True)
        b.record_quirk_sync(URL, "cookie banner")
        b.record_pattern_result_sync(URL, "search", True)
        profile = b.get_profile_sync(URL)
        assert profile is not None
        q = profile.selectors["search box"].stats("#q")
        assert not q.imported and q.ok == 6 and q.origin == "agent-a"
        assert not profile.quirks[0].imported and not profile.patterns["search"].imported
        # Importing the same export again changes nothing: confirmed here stays confirmed.
        assert b.import_jsonl_sync(export).imported == ()


def test_merge_of_evidence_is_the_same_in_any_order() -> None:
    a = profile_of(dataclasses.replace(QuirkSeen("q", "click #x", NOW - 10), by="a"),
                   dataclasses.replace(SelectorResult("p", "#s", False, NOW - 5), by="a"))
    b = profile_of(dataclasses.replace(QuirkSeen("q", None, NOW - 20), by="b"),
                   dataclasses.replace(QuirkResult("q", False, NOW), by="b"),
                   dataclasses.replace(SelectorResult("p", "#s", True, NOW - 7), by="b"))
    ab, ba = merge(a, b), merge(b, a)
    assert ab.to_dict() == ba.to_dict()
    assert merge(ab, a).to_dict() == ab.to_dict()  # idempotent
    quirk = ab.quirks[0]
    assert (quirk.origin, quirk.first_seen, quirk.last_seen) == ("b", NOW - 20, NOW - 10)
    assert quirk.contradictions == 1
    s = ab.selectors["p"].stats("#s")
    assert (s.origin, s.first_seen, s.last_ok, s.last_failed) == ("b", NOW - 7, NOW - 7, NOW - 5)


# -- results of quirks and patterns ------------------------------------------------------------


def test_pattern_and_quirk_results_confirm_and_contradict(memory: SiteMemory) -> None:
    memory.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
    memory.record_quirk_sync(URL, "cookie banner", "click #accept")
    memory.record_pattern_result_sync(URL, "search", True)
    memory.record_pattern_result_sync(URL, "search", False)
    memory.record_quirk_result_sync(URL, "cookie banner", False)
    memory.record_pattern_result_sync(URL, "unknown task", True)  # nothing to confirm: left alone
    memory.record_quirk_result_sync(URL, "unknown quirk", False)
    profile = memory.get_profile_sync(URL)
    assert profile is not None
    pattern, quirk = profile.patterns["search"], profile.quirks[0]
    assert (pattern.times_cached, pattern.contradictions) == (2, 1)
    assert pattern.last_contradicted is not None and pattern.updated_at is not None
    assert (quirk.occurrences, quirk.contradictions) == (1, 1)
    assert set(profile.patterns) == {"search"} and len(profile.quirks) == 1
    with pytest.raises(TypeError, match="ok must be a bool"):
        memory.record_pattern_result_sync(URL, "search", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task_type"):
        memory.record_pattern_result_sync(URL, " ", True)
    with pytest.raises(ValueError, match="description"):
        memory.record_quirk_result_sync(URL, "x" * 5000, True)


# -- eviction and prune --------------------------------------------------------------------------


def test_a_full_site_evicts_its_least_confident_quirk() -> None:
    from sitememory_plugin._core.bounds import MAX_QUIRKS

    updates: list[object] = []
    for i in range(MAX_QUIRKS):  # each seen 3 times, the older ones more recently confirmed
        updates += [QuirkSeen(f"quirk {i}", None, NOW - 100 + i) for _ in range(3)]
    updates.append(QuirkSeen("quirk 0", None, NOW))  # the oldest, but seen 4 times
    updates.append(QuirkSeen("seen once", None, NOW + 1))
    updates.append(QuirkSeen("another", None, NOW + 2))
    quirks = {q.description for q in profile_of(*updates).quirks}
    assert len(quirks) == MAX_QUIRKS
    # A newcomer always gets in. Recency would then have dropped "quirk 1" and "quirk 2" (the
    # least recently seen); confidence drops "quirk 1" (as proven as the rest, and older), then
    # the newcomer seen once rather than a quirk seen three times.
    assert "quirk 0" in quirks and "quirk 1" not in quirks and "quirk 2" in quirks
    assert "seen once" not in quirks and "another" in quirks


def test_prune_drops_knowledge_less_confident_than_asked(tmp_path: Path) -> None:
    with SiteMemory(tmp_path / "store", durability="none", half_life=60) as memory:
        memory.record_quirk_sync(URL, "old quirk")
        memory.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
        profile = memory.get_profile_sync(URL)
        assert profile is not None
        # Age the evidence by writing it back as it would be hours later: a half-life of 60 s.
        past = dataclasses.replace(profile, quirks=tuple(
            dataclasses.replace(q, first_seen=q.first_seen - 3600, last_seen=q.last_seen - 3600)  # type: ignore[operator]
            for q in profile.quirks))
        memory._store.put(past.domain, past)
        memory.record_visit_sync(URL, 0.5)
        dry = memory.prune_sync(365 * DAY, dry_run=True, min_confidence=0.1)
        assert list(dry) == [] and dry.entries == {"shop.example": 1}
        assert len(memory.get_quirks_sync(URL)) == 1
        done = memory.prune_sync(365 * DAY, min_confidence=0.1)
        assert done.entries == {"shop.example": 1}
        profile = memory.get_profile_sync(URL)
        assert profile is not None and profile.quirks == () and set(profile.patterns) == {"search"}
        with pytest.raises(ValueError, match="min_confidence"):
            memory.prune_sync(DAY, min_confidence=1.5)


# -- the prompt ----------------------------------------------------------------------------------


def test_the_prompt_says_how_fresh_each_line_is_and_leaves_out_the_stale() -> None:
    profile = profile_of(
        QuirkSeen("cookie banner", "click #accept", NOW - 3 * DAY),
        QuirkSeen("captcha once", None, NOW - 400 * DAY),
        CacheSelector("search box", "#q", ("input[name=q]",), NOW - 45 * DAY),
        SelectorResult("search box", "#q", True, NOW - 45 * DAY),
        CachePattern.create("search", [{"action": "fill", "purpose": "search box", "value": "{query}"},
                                       {"action": "press", "key": "Enter"}], NOW - DAY),
    )
    text = render_context(profile, 2000, now=NOW)
    assert '- quirk (seen 1x): "cookie banner" -> "click #accept" (confirmed 3 d ago)' in text
    assert "captcha" not in text and "- 1 older entry left out (not confirmed for a long time)" in text
    # Remembered and worked, 45 days ago (one success: the remembering agent saw it work):
    # 0.5 ** 1.5 = 0.35, / 2.35 = 0.15: uncertain.
    assert '- selector for "search box": "#q" (else "input[name=q]") (uncertain, confirmed 45 d ago)' in text
    assert '- known steps for "search": 2 actions, cached 1x (confirmed 1 d ago)' in text
    assert "1." not in text  # steps only for the tasks asked for
    with_steps = render_context(profile, 2000, now=NOW, tasks=["search"])
    assert ('  1. "{\\"action\\": \\"fill\\", \\"purpose\\": \\"search box\\", \\"value\\": '
            '\\"{query}\\"}"') in with_steps.replace("\u201c", '"')
    assert '  2. ' in with_steps
    later = render_context(profile, 2000, now=NOW + 60 * DAY)
    assert '(uncertain, confirmed 2 mo ago)' in later


def test_the_steps_of_a_long_pattern_are_bounded() -> None:
    profile = profile_of(CachePattern.create("checkout", [{"click": f"#s{i}"} for i in range(40)], NOW))
    text = render_context(profile, 20_000, now=NOW, tasks=["checkout"])
    assert "  12. " in text and "  13. " not in text and "  ... 28 more steps" in text


# -- the CLI -----------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from sitememory_plugin._cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def aged_store(path: Path) -> None:
    """A store whose search box has a proven selector from a year ago and a new one from now."""
    with SiteMemory(path, agent="agent-1") as memory:
        memory.cache_selector_sync(URL, "search box", "#old", ["#new"])
        for _ in range(30):
            memory.record_selector_result_sync(URL, "search box", "#old", True)
        memory.record_quirk_sync(URL, "cookie banner", "click #accept")
        profile = memory.get_profile_sync(URL)
        assert profile is not None
        selector = profile.selectors["search box"]
        year = 365 * DAY
        old = selector.stats("#old")
        aged = dataclasses.replace(selector, candidates={
            "#old": dataclasses.replace(old, first_seen=old.first_seen - year,  # type: ignore[operator]
                                        last_ok=old.last_ok - year, remembered=old.remembered - year)})  # type: ignore[operator]
        memory._store.put(profile.domain, dataclasses.replace(profile, selectors={"search box": aged}))
        memory.record_selector_result_sync(URL, "search box", "#new", True)


def test_explain_says_why_the_selectors_rank_as_they_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    aged_store(store)
    code, out, _ = cli(capsys, "--store", str(store), "explain", "shop.example", "search box", "--json")
    assert code == 0
    data = json.loads(out)
    rows = {r["selector"]: r for r in data["candidates"]}
    assert [r["selector"] for r in data["candidates"]] == ["#new", "#old"]
    assert rows["#old"]["ok"] == 30 and rows["#old"]["weight_ok"] < 0.01
    assert rows["#old"]["why"].startswith("stale: last worked 12 mo ago")
    assert rows["#new"]["confidence"] == pytest.approx(1 / 3, abs=0.01)
    assert rows["#old"]["origin"] == "agent-1" and data["half_life_days"] == 30
    code, out, _ = cli(capsys, "--store", str(store), "explain", "shop.example", "search box")
    assert code == 0 and "half-life 30 d" in out and "confidence = c / (c + x + 2)" in " ".join(out.split())
    code, out, _ = cli(capsys, "--store", str(store), "--half-life", "730d", "explain", "shop.example",
                       "search box", "--json")
    # With a two-year half-life the year-old record still outweighs one success.
    assert json.loads(out)["order_now"] == ["#old", "#new"]
    code, _, err = cli(capsys, "--store", str(store), "explain", "shop.example", "cart")
    assert code == 1 and "no purpose 'cart' on shop.example (known: 'search box')" in err


def test_show_displays_confidence_and_age(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    aged_store(store)
    code, out, _ = cli(capsys, "--store", str(store), "show", "shop.example")
    assert code == 0
    assert "confidence" in out and "confirmed 12 mo ago" in out and "(uncertain)" in out
    assert "0.33" in out and re.search(r"confirmed \d+ s ago", out)


def test_prune_min_confidence_and_half_life_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "--store", str(tmp_path), "prune", "--older-than", "1d",
                       "--min-confidence", "2")
    assert code == 2 and "not a number from 0 to 1" in err
    code, _, err = cli(capsys, "--store", str(tmp_path), "--half-life", "0d", "list")
    assert code == 2 and "half-life" in err


def test_a_result_for_nothing_known_makes_no_site_and_revives_no_forgotten_one(
    store_location: str | Path,
) -> None:
    for flush_interval in (None, 60.0):
        with SiteMemory(store_location, flush_interval=flush_interval) as memory:
            memory.record_quirk_result_sync("https://new.example/", "cookie banner", True)
            memory.record_pattern_result_sync("https://new.example/", "search", False)
            assert memory.get_profile_sync("https://new.example/") is None  # pending too
            memory.record_visit_sync("https://old.example/", 0.1)
            memory.flush_sync()
            memory.forget_sync("https://old.example/")
            memory.record_quirk_result_sync("https://old.example/", "cookie banner", True)
            memory.flush_sync()
            assert memory.get_profile_sync("https://old.example/") is None
            assert memory.list_sites_sync() == []


def test_the_memorys_prompt_text_weighs_by_its_half_life_and_gives_the_steps_asked_for(
    tmp_path: Path,
) -> None:
    with SiteMemory(tmp_path / "store", half_life=1) as memory:
        memory.cache_action_pattern_sync(URL, "search", [{"click": "#go"}])
        profile = memory.get_profile_sync(URL)
        assert profile is not None
        pattern = profile.patterns["search"]
        old = dataclasses.replace(pattern, created_at=pattern.created_at - 600,  # type: ignore[operator]
                                  updated_at=pattern.updated_at - 600)  # type: ignore[operator]
        memory._store.put(profile.domain, dataclasses.replace(profile, patterns={"search": old}))
        memory.record_quirk_sync(URL, "cookie banner", "click #accept")
        text = memory.get_context_for_prompt_sync(URL, tasks=["search"])
        # Ten minutes are 600 half-lives of this memory's: the pattern is left out, steps and all.
        assert "known steps" not in text and "1 older entry left out" in text and "cookie banner" in text
    with SiteMemory(tmp_path / "store") as memory:
        assert '  1. "{\\"click\\": \\"#go\\"}"' in memory.get_context_for_prompt_sync(URL, tasks=["search"])
        with pytest.raises(TypeError, match="task"):
            memory.get_context_for_prompt_sync(URL, tasks=[3])  # type: ignore[list-item]


def test_prune_by_confidence_keeps_an_import_not_yet_confirmed(tmp_path: Path) -> None:
    export = tmp_path / "a.jsonl"
    with SiteMemory(tmp_path / "a") as a:
        a.record_quirk_sync(URL, "cookie banner", "click #accept")
        a.export_sync(export)
    with SiteMemory(tmp_path / "b") as b:
        b.import_jsonl_sync(export)
        # Unconfirmed here (confidence 0) is not stale: nothing to drop.
        assert b.prune_sync(3650 * DAY, min_confidence=0.5).entries == {}
        assert len(b.get_quirks_sync(URL)) == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("contradictions", -3, "must be an integer >= 0"),
    ("last_contradicted", "yesterday", "must be a time"),
    ("origin", 42, "must be null or a string"),
    ("origin", "x" * 101, "must be null or a string of 1 to 100"),
    ("imported", "yes", "must be true or false"),
])
def test_an_import_with_bad_evidence_is_refused_whole(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    doc = {"format": "sitememory.site", "version": 2, "domain": "shop.example",
           "quirks": [{"description": "cookie banner", field: value}]}
    with SiteMemory(tmp_path / "store") as memory:
        with pytest.raises(ValueError, match=f"quirks\\[0\\].{field}: {message}"):
            memory.import_jsonl_sync(io.StringIO(json.dumps(doc) + "\n"))
        candidate = {"ok": 1, "last_ok": "today"}
        doc = {"format": "sitememory.site", "version": 2, "domain": "shop.example",
               "selectors": {"p": {"primary": "#a", "candidates": {"#a": candidate}}}}
        with pytest.raises(ValueError, match="last_ok: must be a time"):
            memory.import_jsonl_sync(io.StringIO(json.dumps(doc) + "\n"))
        assert memory.list_sites_sync() == []


@pytest.mark.parametrize("value", [10**400, 5e-324, 0.5, float("nan"), float("inf")])
def test_a_half_life_out_of_range_is_a_value_error(value: float) -> None:
    with pytest.raises(ValueError, match="half_life"):
        SiteMemory("/nonexistent", half_life=value)
