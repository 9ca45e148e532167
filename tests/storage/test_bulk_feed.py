"""Bulk writes name every identifier they changed in the change stream, in chunks of ``BULK_CHUNK``."""

from __future__ import annotations

from protocol.values import HandleValue
from storage import scripts
from storage.bulk import bulk_put, write_batch
from storage.redis_store import RedisStore


def _items(n: int, tag: str) -> list[tuple[str, list[HandleValue]]]:
    return [(f"88.1/{tag}-{i}", [HandleValue(1, "URL", b"https://x/%d" % i)]) for i in range(n)]


async def test_bulk_entries_list_every_identifier_in_chunks(store: RedisStore) -> None:
    count = 2 * scripts.BULK_CHUNK + 7
    items = _items(count, "a")
    assert await write_batch(store, items, actor="import") == count
    entries = [e for e in await store.read_changes("0", 100) if e.operation == "bulk-overwrite"]
    assert [e.detail["count"] for e in entries] == [scripts.BULK_CHUNK, scripts.BULK_CHUNK, 7]
    named = [h for e in entries for h in e.detail["handles"]]
    assert named == [h for h, _ in items]
    for entry in entries:
        assert entry.actor == "import" and entry.result == "ok"
        assert entry.target == entry.detail["first"] == entry.detail["handles"][0]
        assert entry.detail["last"] == entry.detail["handles"][-1]


async def test_bulk_put_batches_are_all_named(store: RedisStore) -> None:
    items = _items(1_234, "b")
    assert await bulk_put(store, items, actor="seed", batch=300) == len(items)
    entries = [e for e in await store.read_changes("0", 100) if e.operation == "bulk-overwrite"]
    assert sorted(h for e in entries for h in e.detail["handles"]) == sorted(h for h, _ in items)
    assert max(e.detail["count"] for e in entries) <= scripts.BULK_CHUNK
