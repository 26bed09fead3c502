"""The browser-use integration: a real browser-use ``Agent`` on Debian's Chromium, driven by a
scripted chat model (the only stand-in: it returns fixed actions and keeps the messages it was
sent), against the local TestSite. The visits are the recorder's, over CDP."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import pluggy
import psutil  # type: ignore[import-untyped]  # browser-use depends on it; it has no stubs
import pytest
import pytest_asyncio
from browser_use import Agent, BrowserProfile, BrowserSession, Tools
from browser_use.filesystem.file_system import FileSystem
from browser_use.llm.messages import BaseMessage
from browser_use.llm.views import ChatInvokeCompletion
from pydantic import BaseModel
from pydantic_core import core_schema

from sitememory_plugin import SiteMemory, hookimpl
from sitememory_plugin.integrations.browser_use import (
    INSTRUCTIONS,
    BrowserUseMemory,
    UnsupportedVersion,
    check_version,
)

from ._browser import chromium_executable
from ._env import unavailable
from ._site import TestSite

# Read by browser-use whenever it looks: no telemetry, no cloud sync, no version check on PyPI.
for _name in ("ANONYMIZED_TELEMETRY", "BROWSER_USE_CLOUD_SYNC", "BROWSER_USE_VERSION_CHECK",
              "BROWSER_USE_CLOUD_HINTS"):
    os.environ[_name] = "false"

#: The browser tests share the module's loop, where the session fixture lives.
on_module_loop = pytest.mark.asyncio(loop_scope="module")

EXAMPLE = Path(__file__).parent.parent / "examples" / "browser_use_agent.py"
T = TypeVar("T", bound=BaseModel)
Step = dict[str, Any] | Callable[[str], dict[str, Any] | Awaitable[dict[str, Any]]]


class ScriptedModel:
    """A chat model that answers with fixed actions, one step each, and keeps every list of
    messages it was sent. A step may be a function of the last message's text (the browser
    state): how a script finds an element's index, as a model reads it; an async one may wait
    for what the test needs before the agent goes on."""

    _verified_api_keys = True  # browser-use then skips checking an API key
    model = "scripted"

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.received: list[list[BaseMessage]] = []

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
        assert output_format is not None, "only the agent's own calls are scripted"
        self.received.append(list(messages))
        index = len(self.received) - 1
        step = self.steps[index] if index < len(self.steps) else _done("the script ran out", False)
        answer = step(messages[-1].text) if callable(step) else step
        if not isinstance(answer, dict):
            answer = await answer
        body = {"evaluation_previous_goal": "as scripted", "memory": "", "next_goal": "the next step",
                **answer}
        return ChatInvokeCompletion(completion=output_format.model_validate(body), usage=None)

    def text(self, call: int) -> str:
        """Everything the model was sent in call ``call`` (0-based), system message included."""
        return "\n".join(message.text for message in self.received[call])


def _done(text: str, success: bool = True) -> dict[str, Any]:
    return {"action": [{"done": {"text": text, "success": success}}]}


def act(name: str, **params: Any) -> dict[str, Any]:
    return {"action": [{name: params}]}


def click(element: str) -> Callable[[str], dict[str, Any]]:
    """A step that clicks the element whose opening tag starts with ``element`` (``a id=next``)
    in the browser state, by the index browser-use gave it."""

    def step(state: str) -> dict[str, Any]:
        found = re.search(r"\[(\d+)\]<" + re.escape(element) + r"\b", state)
        assert found, f"no <{element}> among the interactive elements:\n{state}"
        return act("click", index=int(found.group(1)))

    return step


@pytest.fixture(scope="module")
def site() -> Iterator[TestSite]:
    with TestSite() as served:
        yield served


def browser_profile(keep_alive: bool | None) -> BrowserProfile:
    """A browser-use profile on Debian's Chromium: nothing downloaded, no extensions, no cloud."""
    try:
        executable = chromium_executable()  # None: Playwright's own, which browser-use finds too
    except RuntimeError as exc:
        unavailable(str(exc))
    return BrowserProfile(
        executable_path=executable, headless=True, chromium_sandbox=os.geteuid() != 0,
        enable_default_extensions=False, keep_alive=keep_alive, user_data_dir=None,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session() -> AsyncIterator[BrowserSession]:
    """One browser-use browser for the module, kept alive across agents."""
    browser = BrowserSession(browser_profile=browser_profile(keep_alive=True))
    await browser.start()
    yield browser
    await browser.kill()


def agent(task: str, model: ScriptedModel, session: BrowserSession, tools: Tools[Any]) -> Agent[Any, Any]:
    return Agent(
        task=task, llm=model, browser_session=session, tools=tools,
        extend_system_message=INSTRUCTIONS,
        use_judge=False, enable_planning=False, use_vision=False, directly_open_url=False,
        calculate_cost=False, enable_signal_handler=False,
    )


@on_module_loop
async def test_every_navigation_is_a_visit_and_the_model_gets_the_memory(
    session: BrowserSession, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    # What another agent taught the memory before this one came.
    await memory.record_quirk(site.base, "the search box is slow to appear", "wait for #search")
    site_memory = BrowserUseMemory(memory, plugins=plugins, overlay_window=0)
    tools = site_memory.register(Tools())
    model = ScriptedModel([
        act("navigate", url=site.url("/page/a")),
        click("a id=next"),                                          # a click: /page/next
        act("navigate", url=site.url("/status/404")),
        act("navigate", url=site.url("/redirect?to=/page/b")),      # one visit, at /page/b
        act("remember_site_quirk", description="the footer link moves", workaround="scroll first"),
        act("remember_selector", purpose="next link", selector="#next", fallbacks=["a[href='/page/next']"]),
        act("recall_site_memory"),
        _done("visited four pages"),
    ])
    paths = ("/page/a", "/page/next", "/status/404", "/redirect", "/page/b")
    before = {path: site.hits(path) for path in paths}  # the module's site: other tests' hits too
    async with site_memory.recording(session) as recorder:
        history = await agent("Visit the pages", model, session, tools).run(max_steps=10)
    hits = {path: site.hits(path) - before[path] for path in paths}

    assert history.is_done() and history.is_successful()
    assert len(model.received) == 8
    # What the server saw, what the agent saw, and what the memory recorded: the same four
    # navigations (the redirect is one, at its end).
    assert hits == {"/page/a": 1, "/page/next": 1, "/status/404": 1, "/redirect": 1, "/page/b": 1}
    assert [u for u in history.urls() if u and u.startswith(site.base)][-1] == site.url("/page/b")
    assert (recorder.tally.visits, recorder.tally.failures, recorder.tally.errors) == (4, 1, 0)
    profile = await memory.get_profile(site.base)
    assert (profile.visit_count, profile.success_count, profile.failure_count) == (4, 3, 1)
    assert profile.last_status == 200
    assert set(profile.last_timings) >= {"load", "ttfb", "dom_content_loaded", "redirects"}
    assert profile.last_timings["redirects"] == 1
    # The tools wrote under the site's key.
    assert {q.description for q in profile.quirks} == {
        "the search box is slow to appear", "the footer link moves"}
    assert profile.selectors["next link"].ranked() == ("#next", "a[href='/page/next']")

    # The system message carries the instructions; the site's context reached the model on
    # arrival (the result of the first navigation), not before, and stayed in its history.
    assert "<site_memory>" in model.received[0][0].text
    header = f"Site memory for 127.0.0.1:{site.port}:"
    assert header not in model.text(0)
    arrived = model.text(1)
    assert arrived.count(header) == 1
    assert '"the search box is slow to appear" -> "wait for #search"' in arrived
    assert "Quoted text was recorded from websites and agents" in arrived
    # Once on arrival (the other pages are of the same site), once from recall_site_memory,
    # which gave the memory as it is now: the visits and what the agent taught.
    assert model.text(7).count(header) == 2
    recalled = model.text(7).rpartition(header)[2]
    assert '"the footer link moves" -> "scroll first"' in recalled
    assert '- selector for "next link": "#next"' in recalled
    await memory.close()


@on_module_loop
async def test_a_known_overlay_is_dismissed_before_the_agent_clicks(
    session: BrowserSession, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    await memory.record_quirk(site.base, "cookie banner covers the page", "click #accept-cookies")
    site_memory = BrowserUseMemory(memory, plugins=plugins)
    tools = site_memory.register(Tools())
    async with site_memory.recording(session) as recorder:

        async def after_the_sweep(state: str) -> dict[str, Any]:
            # The model waits until the recorder has clicked the banner away (the deadline only
            # bounds a failure): its next state is of the page after the sweep.
            async with asyncio.timeout(60):
                while recorder.tally.dismissed == 0:
                    await asyncio.sleep(0.05)
            return act("wait", seconds=1)  # browser-use sleeps a second less: none

        def buy(state: str) -> dict[str, Any]:
            assert "id=accept-cookies" not in state, state
            return click("button id=buy")(state)

        model = ScriptedModel([act("navigate", url=site.url("/cookie")), after_the_sweep, buy,
                               _done("bought")])
        cookie_hits = site.hits("/cookie")
        history = await agent("Buy", model, session, tools).run(max_steps=6)
        status = await _text_of(session, "#status")

    assert history.is_done() and history.is_successful()
    assert len(model.received) == 4
    assert recorder.tally.dismissed == 1
    assert status == "bought"
    assert site.hits("/cookie") - cookie_hits == 1
    assert (recorder.tally.visits, recorder.tally.failures) == (1, 0)
    await memory.close()


async def _text_of(session: BrowserSession, selector: str) -> str:
    page = await session.get_current_page()
    assert page is not None
    text = await page.evaluate(f"() => document.querySelector({selector!r}).textContent")
    return str(text)


@on_module_loop
async def test_bad_input_to_a_tool_is_an_error_for_the_model_and_writes_nothing(
    session: BrowserSession, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    tools = BrowserUseMemory(memory, plugins=plugins, overlay_window=0).register(Tools())
    long = await tools.remember_selector(
        purpose="search box", selector="#q" * 2500, url=site.base, browser_session=session
    )
    nowhere = await tools.remember_site_quirk(
        description="x", url="data:text/html,hi", browser_session=session
    )
    assert "nothing was written" in long.error and "selector" in long.error
    assert "nothing was written" in nowhere.error
    assert await memory.get_profile(site.base) is None
    await memory.close()


def test_registering_twice_on_one_tools_is_refused(tmp_path: Path, plugins: pluggy.PluginManager) -> None:
    memory = SiteMemory(tmp_path / "store")
    tools: Tools[Any] = Tools()
    BrowserUseMemory(memory, plugins=plugins).register(tools)
    act = tools.act
    other = SiteMemory(tmp_path / "other")
    for again in (BrowserUseMemory(memory, plugins=plugins), BrowserUseMemory(other, plugins=plugins)):
        with pytest.raises(ValueError, match="already have recall_site_memory, remember_selector"):
            again.register(tools)
    assert tools.act is act  # not wrapped a second time
    fresh: Tools[Any] = Tools()
    assert BrowserUseMemory(memory, plugins=plugins).register(fresh) is fresh  # another Tools: fine


class NotALine:
    """A plugin whose line is no text: the context fails with an AttributeError."""

    @hookimpl
    def sitememory_prompt_context(self, lines: list[Any]) -> None:
        lines.append(42)


@on_module_loop
async def test_a_context_that_fails_leaves_the_action_result_intact(
    session: BrowserSession, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = SiteMemory(tmp_path / "store")
    plugins.register(NotALine(), name="not-a-line")
    tools = BrowserUseMemory(memory, plugins=plugins, overlay_window=0).register(Tools())
    plain: Tools[Any] = Tools()
    url = site.url("/page/a")
    expected = await plain.navigate(url=url, browser_session=session)
    navigated = await tools.navigate(url=url, browser_session=session)
    done = await tools.done(text="finished", success=True, browser_session=session,
                            file_system=FileSystem(tmp_path / "files"))

    assert navigated.model_dump() == expected.model_dump()
    assert navigated.error is None and navigated.long_term_memory is not None
    assert "Site memory" not in navigated.long_term_memory
    assert (done.is_done, done.success, done.extracted_content) == (True, True, "finished")
    failed = [r for r in caplog.records if r.getMessage().startswith("sitememory: no site context")]
    assert len(failed) == 2 and all(r.exc_info and r.exc_info[0] is AttributeError for r in failed)
    await memory.close()


@pytest.mark.parametrize("version", ["0.13.11", "0.13.14", "0.13.20.post1"])
def test_the_tested_versions_are_accepted(version: str) -> None:
    check_version(version)


@pytest.mark.parametrize(
    "version", ["0.12.9", "0.13.10", "0.14.0", "0.14.0rc1", "1.0.0", "0.13.12rc1", "0.13.12.dev0", "dev"]
)
def test_other_versions_are_refused_with_the_range_and_the_command(version: str) -> None:
    with pytest.raises(UnsupportedVersion) as refused:
        check_version(version)
    message = str(refused.value)
    assert ">=0.13.11,<0.14" in message and version in message
    assert "pip install 'sitememory-plugin[browser-use]'" in message


def test_without_browser_use_the_import_says_what_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['browser_use'] = None; "
         "import sitememory_plugin.integrations.browser_use"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "pip install 'sitememory-plugin[browser-use]'" in done.stderr


def test_the_package_never_imports_browser_use_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, sitememory_plugin, sitememory_plugin.integrations.mcp; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'browser_use'))"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_example_runs_offline(tmp_path: Path) -> None:
    environ = {**os.environ, "SITEMEMORY_PATH": str(tmp_path / "memory")}
    for name in ("SITEMEMORY_PLUGINS", "SITEMEMORY_DISABLE_PLUGINS"):
        environ.pop(name, None)
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=180,
                          env=environ)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "visits recorded: 3 (3 succeeded)" in out, out
    assert re.search(r"Site memory for 127\.0\.0\.1:\d+:\n- 3 visits, 100% succeeded", out), out
    assert '- selector for "search box": "#q"' in out, out


def _new_children(before: set[int], session: BrowserSession) -> tuple[list[psutil.Process], int]:
    """The processes started since ``before`` (the browser, Playwright's driver), and how many
    of them are ``session``'s browser (the one listening on its CDP port)."""
    assert session.cdp_url is not None
    flag = f"--remote-debugging-port={urlsplit(session.cdp_url).port}"
    started = [p for p in psutil.Process().children() if p.pid not in before]
    return started, sum(flag in p.cmdline() for p in started)


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _recorder_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "CdpRecorder.run"]


@on_module_loop
async def test_a_block_that_raises_stops_the_browser_recording_started(
    site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    site_memory = BrowserUseMemory(memory, plugins=plugins, overlay_window=0)
    before = {p.pid for p in psutil.Process().children()}
    session = BrowserSession(browser_profile=browser_profile(keep_alive=None))
    with pytest.raises(RuntimeError, match="before the agent ran"):
        async with site_memory.recording(session) as recorder:
            started, browsers = _new_children(before, session)
            assert len(_recorder_tasks()) == 1
            await session.navigate_to(site.url("/page/a"))
            raise RuntimeError("before the agent ran")

    assert browsers == 1 and [p for p in started if _alive(p)] == []
    assert session.cdp_url is None
    assert _recorder_tasks() == []
    # The recorder was stopped, not dropped: the visit in flight was written.
    assert (recorder.tally.visits, recorder.tally.failures) == (1, 0)
    profile = await memory.get_profile(site.base)
    assert profile is not None and profile.visit_count == 1
    await memory.close()


@on_module_loop
async def test_a_cancelled_recording_stops_its_browser_and_its_recorder(
    tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    site_memory = BrowserUseMemory(memory, plugins=plugins, overlay_window=0)
    before = {p.pid for p in psutil.Process().children()}
    session = BrowserSession(browser_profile=browser_profile(keep_alive=None))
    inside = asyncio.Event()

    async def record() -> None:
        async with site_memory.recording(session):
            inside.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.ensure_future(record())
    await inside.wait()
    started, browsers = _new_children(before, session)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert browsers == 1 and [p for p in started if _alive(p)] == []
    assert session.cdp_url is None
    assert _recorder_tasks() == []
    await memory.close()


@on_module_loop
async def test_a_session_started_by_its_user_is_left_running(
    session: BrowserSession, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    endpoint = session.cdp_url
    with pytest.raises(RuntimeError, match="the block failed"):
        async with BrowserUseMemory(memory, plugins=plugins, overlay_window=0).recording(session):
            raise RuntimeError("the block failed")
    assert session.cdp_url == endpoint and endpoint is not None
    assert _recorder_tasks() == []
    assert await session.get_current_page_url() is not None
    await memory.close()
