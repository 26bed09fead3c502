"""Built-in ``consent`` plugin: the memory recognises the banners of common consent managers.

It names the banners of :data:`CONSENT_MANAGERS` to the handle (``sitememory_overlay_probes``),
which looks for them when a page loads and when an action fails because an element intercepts
its pointer events. A banner found is recorded as an overlay quirk whose workaround clicks the
chosen control, so every agent sharing the store has it dismissed before it blocks anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._core.models import SiteProfile
from .._hooktypes import OverlayProbe
from ..hookspecs import hookimpl
from .consent_managers import CONSENT_MANAGERS, ConsentManager
from .overlays import overlay_selector

#: The controls each choice prefers, in order: the first a banner shows is the one clicked.
CHOICES: dict[str, tuple[str, ...]] = {
    "reject": ("reject", "close"),
    "close": ("close", "reject"),
    "accept": ("accept", "close"),
}


class ConsentDetector:
    """Recognises consent banners and records the control that dismisses them.

    :param choice: ``"reject"`` (default: the control that refuses optional cookies, else the
        one that closes the banner), ``"close"`` (close, else reject) or ``"accept"`` (accept
        everything, else close).
    :param managers: the consent managers to recognise (default :data:`CONSENT_MANAGERS`).

    To configure it, replace the built-in one:
    ``plugins = make_plugin_manager(disable=["consent"]);
    plugins.register(ConsentDetector(choice="accept"), "consent")``.
    """

    def __init__(self, choice: str = "reject", managers: Iterable[ConsentManager] = CONSENT_MANAGERS) -> None:
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(map(repr, CHOICES))}, not {choice!r}")
        self.choice = choice
        self.managers = tuple(managers)
        probes = (
            OverlayProbe(
                name=m.name, roots=m.roots,
                controls=_unique(c for kind in CHOICES[choice] for c in getattr(m, kind)),
                description=f"consent banner ({m.name}) blocks the page",
            )
            for m in self.managers
        )
        #: What the plugin names to the handle, one probe per manager with a control to click.
        self.probes = tuple(p for p in probes if p.roots and p.controls)
        self._controls = frozenset(c for p in self.probes for c in p.controls)

    def __repr__(self) -> str:
        return f"ConsentDetector(choice={self.choice!r}, {len(self.managers)} managers)"

    @hookimpl
    def sitememory_overlay_probes(self, profile: SiteProfile | None, probes: list[OverlayProbe]) -> None:
        # A site whose banner is known already is not probed again: its handler dismisses it.
        if profile is not None and any(
            overlay_selector(q.workaround) in self._controls for q in profile.quirks
        ):
            return
        probes.extend(self.probes)


def _unique(selectors: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(selectors))
