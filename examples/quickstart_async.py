"""Async quickstart: record what happened on a site, then ask what is known before acting."""

import asyncio
import sys

from sitememory_plugin import SiteMemory


async def main(store: str | None) -> None:
    async with SiteMemory(store) as memory:
        url = "https://shop.example/search?q=shoes"
        await memory.record_visit(url, 1.8, status=200, timings={"ttfb": 0.3, "load": 1.7})
        await memory.cache_selector(url, "search box", "#q", fallbacks=["input[name=q]"])
        await memory.record_quirk(url, "cookie banner covers the page", "click 'Accept all'")
        await memory.cache_action_pattern(url, "search", [{"fill": ["search box", "{query}"]},
                                                          {"press": "Enter"}])

        selector = await memory.get_selector(url, "search box")
        print("try selectors in this order:", selector.ranked() if selector else None)
        print(await memory.get_context_for_prompt(url))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
