"""The built-in plugins' decisions, as pure functions of a profile."""

from __future__ import annotations

import pytest

from sitememory_plugin import AdaptiveTimeouts, AutoThrottle, NavigationOptions, SiteProfile
from sitememory_plugin._builtins.overlays import overlay_selector, overlay_workaround


def profile(load_times: tuple[float, ...], outcomes: tuple[bool, ...] = ()) -> SiteProfile:
    return SiteProfile("a.example", visit_count=len(load_times), load_times=load_times,
                       recent_outcomes=outcomes or (True,) * len(load_times))


def test_adaptive_timeout_is_a_bounded_multiple_of_p95() -> None:
    timeouts = AdaptiveTimeouts(multiplier=4, minimum=5, maximum=60, min_visits=3)
    assert timeouts.timeout_for(None) is None
    assert timeouts.timeout_for(profile((1.0, 1.0))) is None  # too little known
    assert timeouts.timeout_for(profile((0.1, 0.2, 0.3))) == 5  # floor
    assert timeouts.timeout_for(profile((2.0, 3.0, 4.0))) == 16
    assert timeouts.timeout_for(profile((30.0, 30.0, 30.0))) == 60  # ceiling
    options = NavigationOptions(timeout=1234, explicit=frozenset({"timeout"}))
    timeouts.sitememory_before_navigation(profile((2.0, 3.0, 4.0)), options)
    assert options.timeout == 1234  # the caller's
    with pytest.raises(ValueError):
        AdaptiveTimeouts(minimum=10, maximum=5)


# The README: "4 x its p95 load time, within 5-120 s, once 3 visits are measured; a timeout= you
# pass wins". Each case below breaks if one of those four numbers changes.
@pytest.mark.parametrize(
    ("load_times", "seconds"),
    [
        pytest.param((), None, id="nothing known"),
        # 2 measured visits: too little known, however fast or slow.
        pytest.param((0.1, 0.1), None, id="2 fast visits"),
        pytest.param((40.0, 40.0), None, id="2 slow visits"),
        pytest.param((0.1, 0.1, 0.1), 5.0, id="p95 0.1 s: 5 s floor"),
        pytest.param((1.0, 1.0, 1.0), 5.0, id="p95 1 s: 5 s floor"),
        pytest.param((1.5, 1.5, 1.5), 6.0, id="p95 1.5 s: 6 s"),
        pytest.param((2.0, 2.0, 2.0), 8.0, id="p95 2 s: 8 s"),
        pytest.param((0.5, 2.0, 1.0), 8.0, id="p95 of three is the slowest: 8 s"),
        pytest.param((29.0, 29.0, 29.0), 116.0, id="p95 29 s: 116 s"),
        pytest.param((31.0, 31.0, 31.0), 120.0, id="p95 31 s: 120 s cap"),
        pytest.param((300.0, 300.0, 300.0), 120.0, id="p95 300 s: 120 s cap"),
    ],
)
def test_adaptive_timeout_defaults_follow_the_documented_rule(
    load_times: tuple[float, ...], seconds: float | None
) -> None:
    timeouts = AdaptiveTimeouts()
    site = profile(load_times)
    assert timeouts.timeout_for(site) == seconds
    options = NavigationOptions()
    timeouts.sitememory_before_navigation(site, options)
    assert options.timeout == (None if seconds is None else seconds * 1000)  # Playwright's ms


def test_adaptive_timeout_defaults_never_override_the_callers_timeout() -> None:
    options = NavigationOptions(timeout=1234, explicit=frozenset({"timeout"}))
    AdaptiveTimeouts().sitememory_before_navigation(profile((2.0, 2.0, 2.0)), options)
    assert options.timeout == 1234


def test_politeness_delay_follows_latency_and_failures() -> None:
    throttle = AutoThrottle(target_concurrency=2, failure_penalty=4, failure_backoff=1, max_delay=10)
    healthy, failing = profile((1.0, 1.0)), profile((1.0, 1.0), (False, True))
    assert throttle.delay_for(None) == 0
    assert throttle.delay_for(healthy) == 0.5  # overlapping: latency / target concurrency
    assert throttle.delay_for(healthy, overlapping=False) == 0  # one after another: no wait
    assert throttle.delay_for(failing, overlapping=False) == pytest.approx(0.5 * 4 * 0.5 + 0.5)
    assert throttle.delay_for(profile((100.0, 100.0), (False,))) == 10  # bounded


def test_politeness_spaces_overlapping_navigations_only() -> None:
    throttle = AutoThrottle()
    site = profile((0.2, 0.2))
    assert throttle.reserve("a.example", site) == 0
    second = throttle.reserve("a.example", site)  # the first is still in flight
    assert second == pytest.approx(0.2, abs=0.05)
    third = throttle.reserve("a.example", site)
    assert third == pytest.approx(0.4, abs=0.05)  # queued behind the second
    throttle.sitememory_after_navigation("b.example")  # another site finishing changes nothing
    assert throttle.reserve("a.example", site) > 0.5
    throttle.sitememory_after_navigation("a.example")
    throttle._started["a.example"] = 0  # the last booked slot has passed
    assert throttle.reserve("a.example", site) == 0  # finished: the next one goes at once


def test_politeness_gives_back_the_slot_of_a_navigation_that_did_not_start() -> None:
    throttle = AutoThrottle()
    site = profile((0.2, 0.2))
    first = NavigationOptions()
    throttle.sitememory_before_navigation("a.example", site, first)
    second = NavigationOptions()
    throttle.sitememory_before_navigation("a.example", site, second)  # overlapping: 0.2 s later
    assert second.delay == pytest.approx(0.2, abs=0.05)
    throttle.sitememory_navigation_abandoned("a.example", second)
    assert throttle.reserve("a.example", site) == pytest.approx(0.2, abs=0.05)  # after the first only
    stale = NavigationOptions()
    throttle.sitememory_before_navigation("b.example", site, stale)
    throttle.sitememory_before_navigation("b.example", site, NavigationOptions())
    throttle.sitememory_navigation_abandoned("b.example", stale)  # not the latest: kept
    assert throttle.reserve("b.example", site) == pytest.approx(0.4, abs=0.05)


def test_politeness_never_loses_a_booked_slot_when_several_are_given_back() -> None:
    throttle = AutoThrottle()
    site = profile((0.2, 0.2))
    first, second, third = NavigationOptions(), NavigationOptions(), NavigationOptions()
    for options in (first, second, third):
        throttle.sitememory_before_navigation("a.example", site, options)
    throttle.sitememory_navigation_abandoned("a.example", third)  # back to the second's slot
    throttle.sitememory_navigation_abandoned("a.example", second)  # what came before is unknown now
    # The first is still booked (in flight): the next one is spaced after a booked slot, never
    # sent at once.
    assert throttle.reserve("a.example", site) > 0.1


def test_the_prompt_context_gives_the_timeout_and_pause_a_navigation_would_get() -> None:
    # For an agent that navigates by other means (MCP browser tools): the numbers it should use.
    def lines(plugin: AdaptiveTimeouts | AutoThrottle, site: SiteProfile | None) -> list[str]:
        out: list[str] = []
        plugin.sitememory_prompt_context(site, out)
        return out

    assert lines(AdaptiveTimeouts(), None) == []
    assert lines(AdaptiveTimeouts(), profile((2.0, 2.0))) == []  # too little known
    assert lines(AdaptiveTimeouts(), profile((2.0, 2.0, 2.0))) == [
        "- navigation timeout: 8 s (adapted to its load times)"
    ]
    assert lines(AutoThrottle(), None) == []
    assert lines(AutoThrottle(), profile((1.0, 1.0))) == []  # healthy: one agent waits for nothing
    assert lines(AutoThrottle(), profile((1.0, 1.0), (False, True))) == [
        "- wait 2.5 s between navigations to it"  # 1 s x 4 x 0.5 + 1 s x 0.5
    ]


@pytest.mark.parametrize(
    ("workaround", "selector"),
    [("click #accept", "#accept"), ("Click: .modal .close", ".modal .close"),
     ("dismiss   button:has-text('OK') ", "button:has-text('OK')"), ("press escape", None), (None, None),
     ("click", None)],
)
def test_overlay_workarounds_name_a_selector(workaround: str | None, selector: str | None) -> None:
    assert overlay_selector(workaround) == selector
    if selector is not None:
        assert overlay_selector(overlay_workaround(selector)) == selector
