"""The overlay workaround parser: the same language as the regex it replaced, in linear time."""

from __future__ import annotations

import re
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sitememory_plugin._builtins.overlays import overlay_selector, overlay_workaround

# The original definition, kept as the oracle: correct, but quadratic on long whitespace runs.
ORACLE = re.compile(r"^\s*(?:click|dismiss)\s*:?\s+(?P<selector>\S.*?)\s*$", re.IGNORECASE)

EVERY_CHARACTER = "".join(map(chr, range(sys.maxunicode + 1)))
WHITESPACE = "".join(re.findall(r"\s", EVERY_CHARACTER))


def oracle(workaround: str | None) -> str | None:
    match = ORACLE.match(workaround or "")
    return match.group("selector") if match else None


def test_regex_and_str_methods_agree_on_whitespace() -> None:
    # The parser strips with str methods where the regex said \s: they must be the same set.
    assert "".join(c for c in EVERY_CHARACTER if c.isspace()) == WHITESPACE
    assert "\n" in WHITESPACE and "\u00a0" in WHITESPACE and "\x1c" in WHITESPACE


# Pieces that matter to the grammar: keywords in several cases (and characters the regex's
# IGNORECASE folds onto theirs), colons, every kind of whitespace, newlines, selector text.
tokens = st.one_of(
    st.sampled_from([
        "click", "dismiss", "CLICK", "Dismiss", "cLiCk", "clic", "dis", "clicK", "\u017fmiss",
        ":", "::", "#a", ".modal .close", "button:has-text('OK')", ":has-text('x')", "x", "\n",
        "\r\n", "press", "escape",
    ]),
    st.sampled_from(WHITESPACE),
    st.text(st.sampled_from(WHITESPACE), min_size=1, max_size=30),
    st.text(max_size=4),
)
workarounds = st.lists(tokens, max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(workarounds)
@example("click #a" + " " * 2000)
@example("click" + " " * 2000)
@example("click #a" + " " * 2000 + "x")
@example("click :" + " " * 50)
@example("click : \n#a")
@example("click:\n#a")
@example("dismiss:#a")
@example("click #a\n")
@example("click #a\n\n")
@example("click #a\nb")
@example(" \u2028click\u00a0#a\u3000")
def test_the_same_language_as_the_regex(workaround: str) -> None:
    assert overlay_selector(workaround) == oracle(workaround)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_the_same_language_as_the_regex_on_any_text(text: str) -> None:
    for workaround in (text, "click " + text, "dismiss:" + text, "Click :" + text):
        assert overlay_selector(workaround) == oracle(workaround)


def test_no_workaround_names_no_selector() -> None:
    assert overlay_selector(None) is None and oracle(None) is None


# Any one-line selector, except one opening with a colon and whitespace (no valid selector does):
# "click : x" reads as "x", in the regex as here.
@given(st.text(min_size=1).map(str.strip).filter(lambda s: s != "" and "\n" not in s
                                                 and not re.match(r":\s", s)))
def test_a_remembered_overlay_reads_back(selector: str) -> None:
    assert overlay_selector(overlay_workaround(selector)) == selector
