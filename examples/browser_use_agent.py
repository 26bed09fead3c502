"""A browser-use agent with the site memory: its visits recorded, the memory in its prompt and tools.

Starts a tiny shop on 127.0.0.1 so it runs offline, and drives a real browser-use ``Agent`` on
the system's Chromium with a scripted model (fixed actions, no LLM, no API key): it opens the
shop, searches by clicking, remembers the search box's selector, and finishes. Then it prints
what the memory learned. Needs ``pip install 'sitememory-plugin[browser-use]'``; records into
``$SITEMEMORY_PATH`` (default: your user data directory).

    python examples/browser_use_agent.py
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar, overload

from browser_use import Agent, BrowserProfile, BrowserSession, Tools
from browser_use.llm.messages import BaseMessage
from browser_use.llm.views import ChatInvokeCompletion
from pydantic import BaseModel
from pydantic_core import core_schema

from sitememory_plugin import SiteMemory, chromium_launch_options
from sitememory_plugin.integrations.browser_use import INSTRUCTIONS, BrowserUseMemory

# Read by browser-use whenever it looks: no telemetry, no cloud sync, no version check on PyPI.
for _name in ("ANONYMIZED_TELEMETRY", "BROWSER_USE_CLOUD_SYNC", "BROWSER_USE_VERSION_CHECK",
              "BROWSER_USE_CLOUD_HINTS"):
    os.environ.setdefault(_name, "false")

PAGES = {
    "/": '<h1>Shop</h1><form action="/results"><input id="q" name="q" value="shoes">'
         '<button id="go">Search</button></form>',
    "/results": "<h1>Results</h1><p>3 pairs of shoes</p>",
}
T = TypeVar("T", bound=BaseModel)


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path.partition("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the output to what the example prints


class ScriptedModel:
    """Stands in for an LLM: each call answers the next step of a fixed script."""

    _verified_api_keys = True
    model = "scripted"

    def __init__(self, shop: str) -> None:
        self.shop = shop
        self.calls = 0

    @property
    def provider(self) -> str:
        return "scripted"

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def model_name(self) -> str:
        return self.model

    @classmethod
    def __get_pydantic_core_schema__(cls, source_type: type, handler: Any) -> Any:
        return core_schema.any_schema()  # part of browser-use's BaseChatModel protocol

    @overload
    async def ainvoke(
        self, messages: list[BaseMessage], output_format: None = None, **kwargs: Any
    ) -> ChatInvokeCompletion[str]: ...

    @overload
    async def ainvoke(
        self, messages: list[BaseMessage], output_format: type[T], **kwargs: Any
    ) -> ChatInvokeCompletion[T]: ...

    async def ainvoke(
        self, messages: list[BaseMessage], output_format: type[T] | None = None, **kwargs: Any
    ) -> ChatInvokeCompletion[T] | ChatInvokeCompletion[str]:
        assert output_format is not None
        self.calls += 1
        state = messages[-1].text
        if self.calls == 2:  # arrived: the memory's context is in the agent's history
            told = re.search(r"(Site memory for|The memory knows nothing).*?(?=\n</)", state, re.S)
            print("the model was told on arrival:", told.group() if told else "nothing", sep="\n")
        go = re.search(r"\[(\d+)\]<button id=go\b", state)
        steps: dict[int, dict[str, Any]] = {
            1: {"navigate": {"url": self.shop + "/"}},
            2: {"click": {"index": int(go.group(1)) if go else 0}},  # a click that navigates
            3: {"remember_selector": {"purpose": "search box", "selector": "#q"}},
            4: {"navigate": {"url": self.shop + "/"}},
        }
        action = steps.get(self.calls, {"done": {"text": "searched", "success": True}})
        body = {"evaluation_previous_goal": "", "memory": "", "next_goal": "", "action": [action]}
        return ChatInvokeCompletion(completion=output_format.model_validate(body), usage=None)


async def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shop = f"http://127.0.0.1:{server.server_address[1]}"

    # The system's Chromium, or Playwright's own when installed (None: browser-use finds it too),
    # so browser-use downloads none.
    launch = chromium_launch_options()
    session = BrowserSession(browser_profile=BrowserProfile(
        executable_path=launch.get("executable_path"), headless=True,
        chromium_sandbox=launch["chromium_sandbox"],
        enable_default_extensions=False, user_data_dir=None,
    ))
    async with SiteMemory() as memory:
        site_memory = BrowserUseMemory(memory)
        tools = site_memory.register(Tools())
        async with site_memory.recording(session) as recorder:
            agent: Agent[Any, Any] = Agent(
                task=f"Search the shop at {shop} for shoes", llm=ScriptedModel(shop), tools=tools,
                browser_session=session, extend_system_message=INSTRUCTIONS,
                use_judge=False, directly_open_url=False, use_vision=False,
            )
            await agent.run(max_steps=8)  # closes the browser when done: the recording ends
        tally = recorder.tally
        print(f"visits recorded: {tally.visits} ({tally.visits - tally.failures} succeeded)")
        print(await site_memory.site_context(shop))
    server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
