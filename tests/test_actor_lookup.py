"""Root fields resolving together share one read of the caller's staff row (resolvers.context):
the first caller reads it and the others wait on its answer, however any of them ends."""

import asyncio

import pytest

from resolvers.context import Context


def context_reading(read) -> Context:
    """A Context whose staff-row read is `read()` (nothing else of the context is used here)."""
    ctx = Context.__new__(Context)
    ctx._lookup, ctx._actor = None, None
    ctx._load_actor = lambda _db: read()
    return ctx


async def test_a_cancelled_waiter_leaves_the_others_their_answer():
    release = asyncio.Event()
    reads = []

    async def read():
        reads.append(1)
        await release.wait()
        return "actor"

    ctx = context_reading(read)
    first = asyncio.ensure_future(ctx._current_actor())
    await asyncio.sleep(0)
    given_up = asyncio.ensure_future(ctx._current_actor())
    other = asyncio.ensure_future(ctx._current_actor())
    await asyncio.sleep(0)
    given_up.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await first == "actor" and await other == "actor"
    assert given_up.cancelled()
    assert await ctx._current_actor() == "actor" and reads == [1]


async def test_a_failed_read_reaches_every_waiter_and_the_next_caller_reads_again():
    outcomes = [RuntimeError("the database went away"), "actor"]
    release = asyncio.Event()

    async def read():
        await release.wait()
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    ctx = context_reading(read)
    first = asyncio.ensure_future(ctx._current_actor())
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(ctx._current_actor())
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, waiter, return_exceptions=True)
    assert [str(r) for r in results] == ["the database went away"] * 2
    assert await ctx._current_actor() == "actor" and outcomes == []


async def test_a_cancelled_first_caller_cancels_the_waiters_and_the_next_caller_reads_again():
    started = asyncio.Event()
    outcomes = ["hang", "actor"]

    async def read():
        outcome = outcomes.pop(0)
        if outcome == "hang":
            started.set()
            await asyncio.sleep(3600)
        return outcome

    ctx = context_reading(read)
    first = asyncio.ensure_future(ctx._current_actor())
    await started.wait()
    waiter = asyncio.ensure_future(ctx._current_actor())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await ctx._current_actor() == "actor"
