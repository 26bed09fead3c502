"""Site keys from URLs, and file names that can never leave the store."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitememory_plugin import site_key
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.keys import file_name, key_from_file_name


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.Example.COM/path?q=1#x", "example.com"),
        ("example.com", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("https://example.com:443/", "example.com"),
        ("https://example.com:8443/", "example.com:8443"),
        ("http://example.com:443/", "example.com:443"),
        ("http://localhost:3000/x", "localhost:3000"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("http://[::1]:8080/", "[::1]:8080"),
        ("http://[0:0::1]/", "[::1]"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("https://BÜCHER.example/", "xn--bcher-kva.example"),
        ("https://faß.de/", "xn--fa-hia.de"),  # IDNA 2008, as browsers: not fass.de
        ("https://xn--fa-hia.de/", "xn--fa-hia.de"),
        ("http://example.com./", "example.com"),
        ("http://www.com/", "www.com"),
        ("http://www.www.example.com/", "example.com"),
        ("https://user:pw@shop.example.org/", "shop.example.org"),
        ("wss://chat.example/", "chat.example"),
    ],
)
def test_site_key(url: str, key: str) -> None:
    assert site_key(url) == key


@pytest.mark.parametrize(
    "url",
    ["about:blank", "data:text/html,<p>", "blob:https://x.com/uuid", "chrome://settings",
     "file:///etc/passwd", "javascript:void(0)", "mailto:a@b.c", "chrome-extension://abc/x"],
)
def test_non_web_urls_are_no_site(url: str) -> None:
    with pytest.raises(ValueError, match="not web sites"):
        site_key(url)


@pytest.mark.parametrize(
    "url",
    ["", "   ", "http://", "http://../x", "http://./", "http://a..b/", "http://%2e%2e/",
     "http://exa mple.com", "http://a/b\x00c", "http://" + "a" * 64 + ".com",
     "http://" + ".".join(["abcdefgh"] * 40), "x" * 300, "http://example.com:99999/",
     "http://example.com:port/", "ftp://example.com/", "http://[::g]/", "http://ex\\..\\x/",
     "http://-bad-.com/", "http://a_b..c/", "http://☃.com/", "http://a..ü/"],
)
def test_malformed_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        site_key(url)


def test_non_string_raises_type_error() -> None:
    with pytest.raises(TypeError):
        site_key(b"example.com")  # type: ignore[arg-type]


def test_error_message_is_bounded_for_huge_input() -> None:
    with pytest.raises(ValueError) as info:
        site_key("http://" + "a" * 100_000)
    assert len(str(info.value)) < 400


label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20)
hosts = st.lists(label, min_size=2, max_size=4).map(".".join)


@given(hosts, st.sampled_from(["http", "https"]), st.one_of(st.none(), st.integers(1, 65535)),
       st.booleans(), st.text(string.ascii_letters + "/?=&", max_size=20))
def test_key_properties(host: str, scheme: str, port: int | None, www: bool, path: str) -> None:
    full = ("www." if www else "") + host
    netloc = full.upper() + ("" if port is None else f":{port}")
    key = site_key(f"{scheme}://{netloc}/{path}")
    # Lower-cased, every leading www. folded (two labels stay), default port dropped.
    default = {"http": 80, "https": 443}[scheme]
    labels = full.split(".")
    while labels[0] == "www" and len(labels) > 2:
        labels.pop(0)
    folded = ".".join(labels)
    assert key == folded if port in (None, default) else key == f"{folded}:{port}"
    # Idempotent: a key read as a URL is the same key.
    assert site_key(key) == key
    assert key_from_file_name(file_name(key)) == key


@given(st.text(max_size=300))
def test_any_string_gives_a_key_inside_the_store_or_value_error(text: str) -> None:
    layout = Layout(Path("/store"))
    try:
        key = site_key(text)
    except ValueError:
        return
    path = layout.site_path(key)
    assert path.parent.parent == Path("/store/sites")
    assert "/" not in path.name and "\x00" not in path.name
    assert len(path.name) <= 255


def test_long_key_gets_a_hashed_file_name() -> None:
    key = site_key("http://" + ".".join(["a" * 60] * 4) + ":8080")
    name = file_name(key)
    assert name.startswith("~") and len(name) < 100
    assert key_from_file_name(name) is None
