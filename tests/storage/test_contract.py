"""The HandleStore contract, run on standalone Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest

from protocol.values import HandleValue, ValueReference, encode_values
from storage.api import (
    HandleAlreadyExists,
    HandleNotFound,
    InvalidationKind,
    PrefixRecord,
    PrefixStatus,
    ValueAlreadyExists,
    ValueNotFound,
)
from storage.bulk import bulk_put
from storage.records import StoredRecord
from storage.redis_store import RedisStore

H = "88.100.1/abc"


def url(index: int, text: str) -> HandleValue:
    return HandleValue(index=index, type="URL", data=text.encode())


async def test_create_then_get(store: RedisStore) -> None:
    values = (
        url(1, "http://a"),
        HandleValue(100, "HS_ADMIN", b"\x00\x01", references=(ValueReference("x/y", 3),)),
    )
    await store.create(H, values, actor="t")
    assert await store.get(H) == values
    assert await store.get("88.100.1/missing") is None


async def test_create_twice_fails(store: RedisStore) -> None:
    await store.create(H, [url(1, "a")], actor="t")
    with pytest.raises(HandleAlreadyExists):
        await store.create(H, [url(1, "b")], actor="t")
    assert await store.get(H) == (url(1, "a"),)


async def test_overwrite_reports_new(store: RedisStore) -> None:
    assert await store.overwrite(H, [url(1, "a")], actor="t") is True
    assert await store.overwrite(H, [url(2, "b")], actor="t") is False
    assert await store.get(H) == (url(2, "b"),)


async def test_add_modify_remove(store: RedisStore) -> None:
    await store.create(H, [url(1, "a"), url(2, "b")], actor="t")
    await store.add_values(H, [url(3, "c")], actor="t")
    with pytest.raises(ValueAlreadyExists) as exists:
        await store.add_values(H, [url(4, "d"), url(2, "x")], actor="t")
    assert exists.value.indexes == (2,)
    await store.add_values(H, [url(2, "x")], actor="t", replace=True)
    await store.modify_values(H, [url(1, "m")], actor="t")
    with pytest.raises(ValueNotFound) as missing:
        await store.modify_values(H, [url(1, "n"), url(9, "z")], actor="t")
    assert missing.value.indexes == (9,)
    await store.remove_values(H, [3], actor="t")
    with pytest.raises(ValueNotFound):
        await store.remove_values(H, [1, 7], actor="t")
    assert await store.get(H) == (url(1, "m"), url(2, "x"))


async def test_writes_splice_stamped_and_packed_values_alike(store: RedisStore) -> None:
    """Values with a timestamp are stored stamped (storage/stamped.py), others packed. The scripts splice
    both forms by index, and the resolution read answers a record of both as the general encoder does."""
    def stamped_url(index: int, text: str) -> HandleValue:
        return HandleValue(index=index, type="URL", data=text.encode(), timestamp=1_767_225_600 + index)

    await store.create(H, [url(1, "a"), stamped_url(2, "b")], actor="t")
    await store.add_values(H, [stamped_url(3, "c")], actor="t")
    await store.modify_values(H, [stamped_url(1, "m")], actor="t")  # packed, now stamped
    await store.modify_values(H, [url(2, "x")], actor="t")  # stamped, now packed
    await store.remove_values(H, [3], actor="t")
    expected = (stamped_url(1, "m"), url(2, "x"))
    assert await store.get(H) == expected
    read: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    store.read_records_soon([H], read.set_result)
    records = await read
    assert isinstance(records, list) and isinstance(records[0], StoredRecord)
    assert records[0].wire == encode_values(expected)


async def test_changes_to_missing_handle(store: RedisStore) -> None:
    for change in (
        store.add_values(H, [url(1, "a")], actor="t"),
        store.modify_values(H, [url(1, "a")], actor="t"),
        store.remove_values(H, [1], actor="t"),
        store.delete(H, actor="t"),
    ):
        with pytest.raises(HandleNotFound):
            await change


async def test_delete(store: RedisStore) -> None:
    await store.create(H, [url(1, "a")], actor="t")
    await store.delete(H, actor="t")
    assert await store.get(H) is None


async def test_read_many_reads_exactly_these(store: RedisStore) -> None:
    await store.create("88.100.1/rm-a", [url(1, "a")], actor="t")
    got = await store.read_many(["88.100.1/rm-a", "88.100.1/rm-none", "88.100.1/rm-a"])
    assert got == [(url(1, "a"),), None, (url(1, "a"),)]
    assert await store.read_many([]) == []


async def test_get_many_in_order(store: RedisStore) -> None:
    handles = [f"88.100.1/{i}" for i in range(50)]
    for h in handles[::2]:
        await store.create(h, [url(1, h)], actor="t")
    got = await store.get_many([*handles, handles[0]])
    assert [r is not None for r in got] == [i % 2 == 0 for i in range(50)] + [True]
    assert got[4] == (url(1, handles[4]),)


async def test_list_and_count(store: RedisStore) -> None:
    mine = sorted(f"88.7/{i:03}" for i in range(25))
    for h in [*mine, "88.70/x", "88.8/y"]:
        await store.create(h, [url(1, h)], actor="t")
    assert await store.count_handles("88.7") == 25
    pages = [await store.list_handles("88.7", page, 10) for page in range(4)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert sorted(h for p in pages for h in p) == mine


async def test_concurrent_writers_lose_nothing(store: RedisStore) -> None:
    await store.create(H, [url(1, "base")], actor="t")
    writers = 60
    await asyncio.gather(*(store.add_values(H, [url(10 + i, str(i))], actor=f"w{i}") for i in range(writers)))
    record = await store.get(H)
    assert record is not None
    assert sorted(v.index for v in record) == [1, *range(10, 10 + writers)]


async def test_prefixes(store: RedisStore) -> None:
    rec = PrefixRecord("88.100.1", PrefixStatus.HOMED, "acme", (url(1, "site"),))
    await store.put_prefix(rec, actor="t")
    await store.put_prefix(PrefixRecord("88.100.2", PrefixStatus.DELEGATED), actor="t")
    assert await store.get_prefix("88.100.1") == rec
    assert [p.prefix for p in await store.list_prefixes()] == ["88.100.1", "88.100.2"]
    assert await store.remove_prefix("88.100.1", actor="t") is True
    assert await store.remove_prefix("88.100.1", actor="t") is False
    assert await store.get_prefix("88.100.1") is None


async def test_documents(store: RedisStore) -> None:
    await store.put_doc("tenant", "acme", {"name": "Acme", "prefixes": ["88.1"]}, actor="t")
    await store.put_doc("tenant", "beta", {"name": "Beta"}, actor="t")
    assert await store.get_doc("tenant", "acme") == {"name": "Acme", "prefixes": ["88.1"]}
    assert [k for k, _ in await store.list_docs("tenant")] == ["acme", "beta"]
    assert await store.delete_doc("tenant", "acme", actor="t") is True
    assert await store.delete_doc("tenant", "acme", actor="t") is False
    assert await store.list_docs("tenant") == [("beta", {"name": "Beta"})]


async def test_change_stream_records_writes(store: RedisStore) -> None:
    await store.create(H, [url(1, "a")], actor="alice")
    await store.delete(H, actor="bob")
    changes = await store.read_changes()
    assert [(c.actor, c.operation, c.target) for c in changes] == [
        ("alice", "create", H),
        ("bob", "delete", H),
    ]
    assert await store.read_changes(after_id=changes[0].id) == changes[1:]


async def test_invalidations_arrive(store: RedisStore) -> None:
    feed = store.invalidations()
    first = await asyncio.wait_for(anext(feed), 10)
    assert first.kind is InvalidationKind.ALL
    await store.create(H, [url(1, "a")], actor="t")
    got = await asyncio.wait_for(anext(feed), 10)
    assert (got.kind, got.key) == (InvalidationKind.HANDLE, H)
    await feed.aclose()  # type: ignore[attr-defined]


async def test_bulk_put_writes_and_invalidates(store: RedisStore) -> None:
    feed = store.invalidations()
    assert (await asyncio.wait_for(anext(feed), 10)).kind is InvalidationKind.ALL
    items = [(f"88.5/{i}", (url(1, str(i)),)) for i in range(5)]
    assert await bulk_put(store, items, batch=3) == 5
    got = [await asyncio.wait_for(anext(feed), 10) for _ in range(5)]
    assert [i.key for i in got] == [h for h, _ in items]
    assert await store.get_many([h for h, _ in items]) == [v for _, v in items]
    await feed.aclose()  # type: ignore[attr-defined]
