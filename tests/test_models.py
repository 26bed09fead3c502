"""Models: JSON round trips, unknown fields kept, immutability, versions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitememory_plugin import ActionPattern, Quirk, Selector, SiteProfile, StoreFormatError, VersionTooNew
from sitememory_plugin._core.models import LOAD_WINDOW, CandidateStats, freeze, percentile

text = st.text(min_size=1, max_size=12)
times = st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False))
counts = st.integers(0, 10**6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(st.text(min_size=1, max_size=6).map(lambda s: "x_" + s), json_values,
                         max_size=3).map(freeze)

selectors = st.builds(
    Selector, purpose=text, primary=text, fallbacks=st.lists(text, max_size=3, unique=True).map(tuple),
    success_count=counts, failure_count=counts,
    candidates=st.dictionaries(text, st.builds(CandidateStats, counts, counts, counts),
                               max_size=3).map(freeze),
    updated_at=times, extra=extras,
).filter(lambda s: s.primary not in s.fallbacks and s.purpose.strip())  # as stored: no repeats
quirks = st.builds(Quirk, description=text, workaround=st.one_of(st.none(), text),
                   occurrences=st.integers(1, 1000), first_seen=times, last_seen=times, extra=extras,
                   ).filter(lambda q: q.description.strip())  # as stored: a blank one says nothing
patterns = st.builds(ActionPattern, task_type=text, actions=st.lists(json_values, max_size=4).map(freeze),
                     times_cached=st.integers(1, 1000), created_at=times, updated_at=times, extra=extras,
                     ).filter(lambda p: p.task_type.strip())  # as stored, like quirks


@st.composite
def profiles(draw: st.DrawFn) -> SiteProfile:
    sels = draw(st.lists(selectors, max_size=3, unique_by=lambda s: s.purpose))
    pats = draw(st.lists(patterns, max_size=3, unique_by=lambda p: p.task_type))
    return SiteProfile(
        domain=draw(text), visit_count=draw(counts), success_count=draw(counts),
        failure_count=draw(counts), first_visit=draw(times), last_visit=draw(times),
        last_status=draw(st.one_of(st.none(), st.integers(100, 599))),
        last_error=draw(st.one_of(st.none(), text)),
        load_times=tuple(draw(st.lists(st.integers(0, 10**7).map(lambda ms: ms / 1000),
                                       max_size=LOAD_WINDOW))),
        last_timings=freeze(draw(st.dictionaries(text, st.floats(0, 1e4, allow_nan=False), max_size=3))),
        selectors=freeze({s.purpose: s for s in sels}),
        quirks=tuple(draw(st.lists(quirks, max_size=3))),
        patterns=freeze({p.task_type: p for p in pats}),
        extra=draw(extras),
    )


@given(profiles())
def test_profile_json_round_trip(profile: SiteProfile) -> None:
    doc = json.loads(json.dumps(profile.to_dict()))
    # A profile made by hand has its totals and no ledger; it is stored as one origin's counts.
    assert SiteProfile.from_dict(doc) == profile.with_ledger(profile.visits_ledger())
    assert SiteProfile.from_dict(doc).to_dict() == doc


@given(profiles(), st.dictionaries(st.text(min_size=1, max_size=6).map(lambda s: "future_" + s),
                                   json_values, min_size=1, max_size=3))
def test_unknown_fields_survive_a_rewrite(profile: SiteProfile, unknown: dict[str, Any]) -> None:
    doc = profile.to_dict()
    doc.update(unknown)
    for selector in doc["selectors"].values():
        selector["future_field"] = [1, {"a": None}]
    again = SiteProfile.from_dict(json.loads(json.dumps(SiteProfile.from_dict(doc).to_dict())))
    rewritten = again.to_dict()
    for name, value in unknown.items():
        assert rewritten[name] == value
    for selector in rewritten["selectors"].values():
        assert selector["future_field"] == [1, {"a": None}]


def test_document_is_versioned_human_readable_json() -> None:
    doc = SiteProfile("example.com", visit_count=2).to_dict()
    assert doc["format"] == "sitememory.site" and doc["version"] == 2
    assert doc["domain"] == "example.com"
    (counts,) = doc["visits"].values()  # one origin: the profile's own totals
    assert counts["visits"] == 2
    assert SiteProfile.from_dict(doc).visit_count == 2


def test_load_times_are_kept_in_milliseconds() -> None:
    doc = SiteProfile("a.com", load_times=(1.5, 0.0004, 12.3456)).to_dict()
    (counts,) = doc["visits"].values()
    assert counts["load_times_ms"] == [1500, 0, 12346]
    assert "load_times" not in doc
    assert SiteProfile.from_dict(doc).load_times == (1.5, 0.0, 12.346)


def test_newer_version_is_refused() -> None:
    with pytest.raises(VersionTooNew):
        SiteProfile.from_dict({"format": "sitememory.site", "version": 99, "domain": "a.com"})


@pytest.mark.parametrize("doc", [[], "x", {"format": "other", "domain": "a.com"}, {"visit_count": 1}])
def test_not_a_site_document(doc: Any) -> None:
    with pytest.raises(StoreFormatError):
        SiteProfile.from_dict(doc)


def test_wrong_field_types_are_read_leniently() -> None:
    profile = SiteProfile.from_dict({
        "domain": "a.com", "visit_count": "7", "load_times_ms": [1000, "x", None, -5, 2000.4],
        "last_status": True, "selectors": {"s": "not a dict"}, "quirks": {"no": "list"},
    })
    assert profile.visit_count == 7 and profile.load_times == (1.0, 2.0)  # "7" is read as 7
    assert profile.last_status is None and not profile.selectors and not profile.quirks


def test_models_are_immutable() -> None:
    profile = SiteProfile.from_dict({
        "domain": "a.com", "patterns": {"t": {"actions": [{"click": "#x"}]}}, "unknown": {"k": [1]},
    })
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.visit_count = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.patterns["t"].actions[0]["click"] = "#y"
    with pytest.raises(TypeError):
        profile.extra["unknown"]["k"] = 2


def test_load_time_statistics() -> None:
    profile = SiteProfile("a.com", load_times=tuple(float(i) for i in range(1, 101)))
    assert profile.mean_load_time == pytest.approx(50.5)
    assert profile.p50_load_time == 50.0
    assert profile.p95_load_time == 95.0
    assert SiteProfile("a.com").p95_load_time is None
    assert percentile((3.0,), 99) == 3.0
