"""The consent managers the built-in ``consent`` plugin knows: where their banner is, and which
of its buttons refuses optional cookies, closes it, or accepts everything.

One row per consent manager (CMP); extend the table by passing your own rows to
:class:`~sitememory_plugin.ConsentDetector` (``managers=(*CONSENT_MANAGERS, ConsentManager(...))``).
Selectors are plain CSS (the page's ``querySelectorAll`` and Playwright both read them), each
control one compound selector at most a descendant step below its root, so it also matches
inside an open shadow root. A control is used only while it is visible inside one of its
manager's roots, in a layer over the page.

``verified`` says where a row comes from: ``"npm"`` rows are checked by the tests against the
manager's own files from npm (``tests/test_consent.py``); ``"markup"`` rows come from the
manager's published markup and documentation and from open-source consent rule sets
(DuckDuckGo's autoconsent, Consent-O-Matic), unchecked here: the markup of a hosted manager
changes with its version and the site's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsentManager:
    """A consent manager's banner: its roots and its controls, each a tuple of CSS selectors
    tried in order."""

    name: str
    #: Elements that hold the banner (and its backdrop, which intercepts clicks too).
    roots: tuple[str, ...]
    #: Buttons that refuse optional cookies ("Reject all", "Only necessary", "Decline").
    reject: tuple[str, ...] = ()
    #: Buttons that close the banner without a choice ("Continue without accepting", a cross).
    close: tuple[str, ...] = ()
    #: Buttons that accept every purpose.
    accept: tuple[str, ...] = ()
    #: ``"npm"``: tested against the manager's npm package; ``"markup"``: from its public markup.
    verified: str = "markup"


CONSENT_MANAGERS: tuple[ConsentManager, ...] = (
    ConsentManager(
        "OneTrust", roots=("#onetrust-consent-sdk", "#onetrust-banner-sdk"),
        reject=("#onetrust-reject-all-handler",),
        close=(
            "#onetrust-banner-sdk .onetrust-close-btn-handler", "#onetrust-banner-sdk .banner-close-button",
        ),
        accept=("#onetrust-accept-btn-handler",),
    ),
    ConsentManager(
        "Cookiebot", roots=("#CybotCookiebotDialog", "#CybotCookiebotDialogBodyUnderlay"),
        reject=("#CybotCookiebotDialogBodyButtonDecline",),
        close=(
            "#CybotCookiebotBannerCloseButtonE2E", "#CybotCookiebotDialog .CybotCookiebotBannerCloseButton",
        ),
        accept=(
            "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll", "#CybotCookiebotDialogBodyButtonAccept",
        ),
    ),
    ConsentManager(
        "Didomi", roots=("#didomi-host", "#didomi-popup", "#didomi-notice"),
        reject=("#didomi-notice-disagree-button",),
        close=("#didomi-host .didomi-continue-without-agreeing", "#didomi-host .didomi-popup-close"),
        accept=("#didomi-notice-agree-button",),
    ),
    ConsentManager(
        # Usercentrics draws its banner in the open shadow root of #usercentrics-root (v2);
        # version 3 of its browser UI uses #usercentrics-cmp-ui.
        "Usercentrics", roots=("#usercentrics-root", "#uc-center-container", "#usercentrics-cmp-ui"),
        reject=("[data-testid='uc-deny-all-button']", "#usercentrics-cmp-ui #deny"),
        close=("[data-testid='uc-close-button']", "#usercentrics-cmp-ui #close"),
        accept=("[data-testid='uc-accept-all-button']", "#usercentrics-cmp-ui #accept"),
    ),
    ConsentManager(
        "Quantcast Choice", roots=("#qc-cmp2-container", "#qc-cmp2-ui"),
        reject=("#qc-cmp2-ui .qc-cmp2-summary-buttons button[mode='secondary']",),
        close=("#qc-cmp2-ui button.qc-cmp2-close-icon",),
        accept=("#qc-cmp2-ui .qc-cmp2-summary-buttons button[mode='primary']",),
    ),
    ConsentManager(
        "TrustArc", roots=("#truste-consent-track", "#truste-consent-content", ".truste_overlay"),
        reject=("#truste-consent-required",),
        close=("#truste-consent-close",),
        accept=("#truste-consent-button",),
    ),
    ConsentManager(
        # Osano's hosted manager; its open-source predecessor is the next row.
        "Osano", roots=(".osano-cm-window", ".osano-cm-dialog"),
        reject=(".osano-cm-dialog .osano-cm-denyAll", ".osano-cm-dialog .osano-cm-deny"),
        close=(".osano-cm-dialog .osano-cm-dialog__close",),
        accept=(".osano-cm-dialog .osano-cm-accept-all", ".osano-cm-dialog .osano-cm-accept"),
    ),
    ConsentManager(
        "cookieconsent (Osano, open source)", roots=(".cc-window",),
        reject=(".cc-window .cc-deny",),
        close=(".cc-window .cc-dismiss",),
        accept=(".cc-window .cc-allow",),
        verified="npm",
    ),
    ConsentManager(
        "Klaro", roots=(".klaro .cookie-modal", ".klaro .cookie-notice"),
        reject=(".klaro .cookie-modal .cn-decline", ".klaro .cookie-notice .cn-decline"),
        close=(".klaro .cookie-modal .hide",),
        accept=(".klaro .cookie-modal .cm-btn-accept-all", ".klaro .cookie-notice .cm-btn-success"),
    ),
    ConsentManager(
        # Version 3 (#cc-main); version 2 drew #cc_div with #c-s-bn and #c-p-bn.
        "vanilla-cookieconsent", roots=("#cc-main", "#cc_div"),
        reject=("#cc-main .cm__btn[data-role='necessary']", "#cc_div #c-s-bn"),
        accept=("#cc-main .cm__btn[data-role='all']", "#cc_div #c-p-bn"),
        verified="npm",
    ),
    ConsentManager(
        "Complianz", roots=(".cmplz-cookiebanner",),
        reject=(".cmplz-cookiebanner .cmplz-deny",),
        close=(".cmplz-cookiebanner .cmplz-close",),
        accept=(".cmplz-cookiebanner .cmplz-accept",),
    ),
    ConsentManager(
        "CookieYes", roots=(".cky-consent-container", ".cky-overlay"),
        reject=(".cky-consent-container .cky-btn-reject",),
        close=(".cky-consent-container .cky-banner-btn-close",),
        accept=(".cky-consent-container .cky-btn-accept",),
    ),
    ConsentManager(
        "iubenda", roots=("#iubenda-cs-banner",),
        reject=("#iubenda-cs-banner .iubenda-cs-reject-btn",),
        close=("#iubenda-cs-banner .iubenda-cs-close-btn",),
        accept=("#iubenda-cs-banner .iubenda-cs-accept-btn",),
    ),
    ConsentManager(
        # Sourcepoint's usual message is a cross-origin iframe: its buttons are out of the page's
        # reach, so only a message rendered in the page (its native messages) is recognised.
        "Sourcepoint", roots=("[id^='sp_message_container']",),
        reject=("[id^='sp_message_container'] button.sp_choice_type_13",),
        close=("[id^='sp_message_container'] button.sp_choice_type_15",),
        accept=("[id^='sp_message_container'] button.sp_choice_type_11",),
    ),
)
