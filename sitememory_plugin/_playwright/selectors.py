"""Resolving a purpose ("search box") to a selector: the candidates and how each one fared."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """One selector tried for a purpose: did it match (and, for the one used, did the action work)."""

    selector: str
    ok: bool


def unique(selectors: Iterable[object]) -> list[str]:
    """Non-empty string selectors in order, first occurrence kept."""
    return list(dict.fromkeys(s for s in selectors if isinstance(s, str) and s.strip()))


def attempts_for(candidates: list[str], chosen: str | None, ok: bool) -> list[Attempt]:
    """The outcome of every candidate tried: those ranked above ``chosen`` did not match.

    Candidates below the chosen one were never tried and get no outcome; when nothing matched,
    every candidate failed.
    """
    out: list[Attempt] = []
    for selector in candidates:
        if selector == chosen:
            out.append(Attempt(selector, ok))
            break
        out.append(Attempt(selector, False))
    return out
