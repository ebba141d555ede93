"""Memory per history message in Redis (README "Recovery", "Sizing history").

    PYTHONPATH=$PWD .venv/bin/python -m ops.history_memory [--sizes 100,1000] [--bytes 200]

Starts a throwaway redis-server, fills one group's history through a real RedisChannelLayer
(group_send of a chat message whose serialized envelope is about --bytes long) until it holds
`size` entries, then prints MEMORY USAGE (SAMPLES 0: every entry counted) of the group's two
history keys, total and per message, for the queue and the pub/sub layer.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import redis

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from ops.bench.harness import RedisServer


def chat_message(layer: RedisLayerBase, length: int) -> dict[str, object]:
    """A chat message like the demo's, its text padding the serialized envelope to `length`."""
    message: dict[str, object] = {"type": "chat.message", "user": "alice-1234", "text": ""}
    empty, _ = layer.codec.encode(message, "group_send", "room")
    message["text"] = "x" * max(0, length - len(empty) - 1)  # 1: msgpack's longer str header
    return message


async def measure(
    cls: type[RedisLayerBase], url: str, size: int, length: int
) -> tuple[int, int, int]:
    """(bytes of the history keys, bytes of one serialized envelope, entries kept)."""
    group = "room.sizing"
    layer = cls(
        hosts=[url], prefix=f"m-{uuid.uuid4().hex[:6]}", group_history={group: (size, 3600)}
    )
    message = chat_message(layer, length)
    payload, _ = layer.codec.encode(message, "group_send", group)
    try:
        for _ in range(size + 10):  # past the size: trimming at work, as in production
            await layer.group_send(group, message)
        client = redis.Redis.from_url(url)
        try:
            stream, meta = layer.history_keys(group)
            used = sum(
                int(client.execute_command("MEMORY", "USAGE", key, "SAMPLES", 0) or 0)
                for key in (stream, meta)
            )
            kept = int(client.xlen(stream))
        finally:
            client.close()
        await layer.flush()
    finally:
        await layer.close()
    return used, len(payload), kept


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--bytes", type=int, default=200, help="serialized message size")
    options = parser.parse_args()
    server = RedisServer()
    try:
        version = redis.Redis.from_url(server.url).info("server")["redis_version"]
        print(f"redis {version}, message envelope ~{options.bytes} bytes (msgpack)")
        print(f"{'layer':8} {'size':>6} {'kept':>6} {'payload':>8} {'bytes':>10} {'per msg':>8}")
        for cls, name in ((RedisChannelLayer, "queue"), (RedisPubSubChannelLayer, "pubsub")):
            for size in (int(s) for s in options.sizes.split(",")):
                used, payload, kept = await measure(cls, server.url, size, options.bytes)
                print(f"{name:8} {size:>6} {kept:>6} {payload:>8} {used:>10} {used / kept:>8.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
