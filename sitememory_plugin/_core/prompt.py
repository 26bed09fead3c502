"""The compact, size-bounded text about a site that an LLM prompt can include."""

from __future__ import annotations

from .models import SiteProfile

#: Default size bound of :func:`render_context`, in characters.
DEFAULT_MAX_CHARS = 1200


def context_lines(profile: SiteProfile) -> list[str]:
    """Lines, most useful first: what to expect, what to avoid, what worked."""
    lines = [f"Site memory for {profile.domain}:"]
    if profile.visit_count:
        rate = profile.success_rate
        timing = ""
        if profile.p50_load_time is not None and profile.p95_load_time is not None:
            timing = (f"; load p50 {profile.p50_load_time:.2f}s, "
                      f"p95 {profile.p95_load_time:.2f}s")
        lines.append(
            f"- {profile.visit_count} visits, {0 if rate is None else rate:.0%} succeeded{timing}"
        )
        if profile.last_error:
            lines.append(f"- last error: {_short(profile.last_error, 120)}")
    for quirk in sorted(profile.quirks, key=lambda q: -q.occurrences):
        fix = f" -> {_short(quirk.workaround, 120)}" if quirk.workaround else ""
        lines.append(f"- quirk (seen {quirk.occurrences}x): {_short(quirk.description, 120)}{fix}")
    for purpose, selector in profile.selectors.items():
        alternatives = ", ".join(_short(s, 60) for s in selector.fallbacks[:2])
        tail = f" (else {alternatives})" if alternatives else ""
        lines.append(f"- selector for {_short(purpose, 40)}: {_short(selector.primary, 80)}{tail}")
    for task, pattern in profile.patterns.items():
        lines.append(f"- known steps for {_short(task, 40)}: {len(pattern.actions)} actions, "
                     f"cached {pattern.times_cached}x")
    return lines


def render_context(profile: SiteProfile | None, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Join :func:`context_lines` up to ``max_chars``; whole lines only, never a cut line."""
    return bounded([] if profile is None else context_lines(profile), max_chars)


def bounded(lines: list[str], max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``lines`` joined, as many whole lines as fit in ``max_chars``."""
    if max_chars <= 0:
        raise ValueError("max_chars must be > 0")
    out: list[str] = []
    size = 0
    for line in lines:
        extra = len(line) + (1 if out else 0)
        if size + extra > max_chars:
            break
        out.append(line)
        size += extra
    return "\n".join(out)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
