"""Driving a flow written once, under a blocking or an asyncio caller.

A flow is a generator. Where it does I/O it makes the call and yields what the call returned:
under Playwright's sync API (and ``SiteMemory``'s ``_sync`` methods) that is the result itself,
under the async API an awaitable. :func:`run_sync` sends each value straight back;
:func:`run_async` awaits it first and throws its error into the flow, where the flow's own
``try`` handles it. So ``response = yield page.goto(url)`` is one line for both APIs, as httpx
drives one auth flow from its sync and its async client.

A blocking caller never awaits: an awaitable reaching :func:`run_sync` is a hook written as
``async def`` under the sync API, refused with a ``TypeError`` thrown into the flow (no event
loop is started: under Playwright's sync API one is already registered as running).
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")

#: A flow: yields calls' results (awaitables under an asyncio caller), returns a ``T``.
Flow = Generator[Any, Any, T]

SYNC_AWAITABLE = (
    "returned an awaitable, but Playwright's sync API is in use: write this hook as a plain function"
)


class SyncAwaitable(TypeError):
    """What :func:`run_sync` throws into a flow that yielded an awaitable."""


def run_sync(flow: Flow[T]) -> T:
    """Run ``flow`` to its end in this thread; its return value."""
    try:
        value = next(flow)
        while True:
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()  # never awaited: closed, so Python does not warn
                value = flow.throw(SyncAwaitable(SYNC_AWAITABLE))
            else:
                value = flow.send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def run_async(flow: Flow[T]) -> T:
    """Run ``flow`` to its end, awaiting what it yields that is awaitable; its return value."""
    try:
        value = next(flow)
        while True:
            try:
                result = (await value) if inspect.isawaitable(value) else value
            except GeneratorExit:  # this coroutine is being closed: so is the flow
                flow.close()
                raise
            except BaseException as exc:  # the flow decides, cancellation included
                value = flow.throw(exc)
            else:
                value = flow.send(result)
    except StopIteration as stop:
        done: T = stop.value
        return done
