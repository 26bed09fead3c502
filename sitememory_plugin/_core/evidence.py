"""How much to trust an entry: its evidence, and one confidence in [0, 1] that decays with age.

Every selector candidate, quirk and action pattern records when it was first seen, when it was
last confirmed (a success, an occurrence, a replay that worked) and contradicted, how often each,
and who reported it first (:class:`Evidence`). Its confidence is the shrunk success rate the
ranking has always used, ``c / (c + x + 2)``, with each count weighed by the age of its latest
event: ``c = confirmations x 0.5 ** (age of the last confirmation / half-life)``, and likewise
``x`` for contradictions. So a selector that worked yesterday outranks one that worked often a
year ago, and a recent contradiction weighs more than an old one. An entry imported from another
store counts no confirmation until an agent here confirms it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Default half-life of evidence: 30 days.
DEFAULT_HALF_LIFE = 30 * 86400.0
#: Below this, knowledge is marked uncertain in the prompt context.
UNCERTAIN = 0.2
#: Below this, knowledge is left out of the prompt context (too old or too contradicted).
NEGLIGIBLE = 0.05
#: Ages count in steps of this share of the half-life (about 11 h of 30 d), so that evidence a few
#: seconds or minutes apart weighs the same: the ranking changes when the evidence does, not as
#: the clock ticks.
STEPS = 64


@dataclass(frozen=True)
class Evidence:
    """What speaks for and against an entry, with the same names for every kind of entry."""

    first_seen: float | None = None
    last_confirmed: float | None = None
    last_contradicted: float | None = None
    confirmations: int = 0
    contradictions: int = 0
    #: Who first reported it: the agent or run named by ``SiteMemory(agent=...)``.
    origin: str | None = None
    #: Imported from another store and not yet confirmed here: its confirmations do not count.
    imported: bool = False

    def weights(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> tuple[float, float]:
        """The confirmations and contradictions, each weighed by the age of its latest event."""
        c = 0.0 if self.imported else self.confirmations * decay(self.last_confirmed, now, half_life)
        return c, self.contradictions * decay(self.last_contradicted, now, half_life)

    def confidence(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> float:
        """Confidence at ``now`` (seconds since the epoch), in [0, 1)."""
        c, x = self.weights(now, half_life)
        return c / (c + x + 2)

    def stale(self, minimum: float, now: float, half_life: float = DEFAULT_HALF_LIFE) -> bool:
        """Whether this is knowledge gone stale: less confident than ``minimum``. An import not
        yet confirmed here is not stale, only unconfirmed (its confidence is 0 by design)."""
        return not self.imported and self.confidence(now, half_life) < minimum

    @property
    def last_seen(self) -> float | None:
        """The latest event of any kind."""
        times = [t for t in (self.first_seen, self.last_confirmed, self.last_contradicted) if t is not None]
        return max(times) if times else None


def decay(at: float | None, now: float, half_life: float) -> float:
    """Weight of an event at ``at`` seen from ``now``: 1 when new, half after ``half_life``; an
    unknown time weighs as a very old one (nothing), a future time as now."""
    if at is None:
        return 0.0
    steps = math.floor(max(0.0, now - at) / half_life * STEPS)
    return math.pow(0.5, steps / STEPS)


#: Shortest and longest half-life: shorter would weigh a second's evidence as nothing (and
#: overflow the weights), longer is no decay at all.
MIN_HALF_LIFE = 1.0
MAX_HALF_LIFE = 1e12


def check_half_life(value: object) -> float:
    """``value`` as a half-life in seconds; ``TypeError``/``ValueError`` if it is not a duration
    from :data:`MIN_HALF_LIFE` to :data:`MAX_HALF_LIFE` seconds."""
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"half_life must be seconds or a timedelta, not {type(value).__name__}")
    # An int is compared as it is: float() of a huge one overflows.
    if not MIN_HALF_LIFE <= seconds <= MAX_HALF_LIFE:  # also false for NaN
        raise ValueError(f"half_life must be a duration of 1 s to 1e12 s, not {value!r:.40}")
    return float(seconds)


def age(seconds: float) -> str:
    """A short age: ``"40 s"``, ``"12 min"``, ``"5 h"``, ``"3 d"``, ``"14 mo"``."""
    seconds = max(0.0, seconds)
    for unit, size in (("mo", 30 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "mo" else 1):
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def freshness(evidence: Evidence, now: float) -> str:
    """How fresh an entry is, for people and prompts: ``"confirmed 3 d ago"``."""
    if evidence.imported:
        return "imported, not confirmed here"
    if evidence.last_confirmed is None:
        seen = evidence.first_seen
        return "never confirmed" if seen is None else f"seen {age(now - seen)} ago, never confirmed"
    text = f"confirmed {age(now - evidence.last_confirmed)} ago"
    if evidence.last_contradicted is not None and evidence.last_contradicted > evidence.last_confirmed:
        text += f", contradicted {age(now - evidence.last_contradicted)} ago"
    return text
