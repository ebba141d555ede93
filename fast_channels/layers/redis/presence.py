"""Presence on the Redis layers (queue and pub/sub; single Redis, shards, Sentinel, Cluster).

Per group G, in G's hash slot (the `{g:G}` tag the cluster queue layer's group keys carry;
with several plain shards, on the shard `shards.index(G)`):

  P:{g:G}:p   hash: channel -> "<process>\\n<info as JSON>"
  P:{g:G}:pl  sorted set: process -> Redis time its lease in G ends

Joining, leaving, reading and renewing are one script each (lua/presence_*.lua, after
lua/presence_prelude.lua), so one round trip; reading 10,000 members is one HGETALL.

Liveness: the pub/sub layer keeps no memberships in Redis and a Cluster has no prefix-wide
leases key, so presence keeps its own lease per (group, process), in the group's slot, where
the scripts can check it. A keeper task renews this process's lease in each group where it
holds entries every lease / 6; a process that stops (SIGKILL) has its entries removed by the
next script of any live process in that group after its lease ended, which returns them for
their presence.leave events (reason "process_dead"). The lease is the layer's `process_lease`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Coroutine
from importlib import resources
from typing import Any, Protocol

from redis.exceptions import NoScriptError, RedisError

from fast_channels.layers.presence import (
    Info,
    PresenceStore,
    decode_info,
    encode_info,
    join_event,
    leave_event,
    logger,
)
from fast_channels.layers.redis._types import LayerTasks, ScriptHost

DEFAULT_LEASE = 30.0
NAMES = ("presence_join", "presence_leave", "presence_read", "presence_renew")
PRELUDE = "presence_prelude"  # lua/presence_prelude.lua, sent first with every script


def _load() -> dict[str, tuple[bytes, str]]:
    """Each script's body (the prelude, then its file) and SHA, read once at import."""
    lua = resources.files("fast_channels.layers.redis") / "lua"
    prelude = (lua / f"{PRELUDE}.lua").read_text(encoding="utf-8")
    scripts = {}
    for name in NAMES:
        body = f"{prelude}\n{(lua / f'{name}.lua').read_text(encoding='utf-8')}".encode()
        scripts[name] = (body, hashlib.sha1(body).hexdigest())
    return scripts


_SCRIPTS = _load()


async def run_script(name: str, client: ScriptHost, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis)."""
    body, sha = _SCRIPTS[name]
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(body)
        return await client.evalsha(sha, len(keys), *keys, *args)


class PresenceLayer(LayerTasks, Protocol):
    """What the store needs of a Redis layer."""

    @property
    def prefix(self) -> str: ...

    @property
    def process_id(self) -> str: ...

    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


def _entries(flat: list[bytes]) -> dict[str, Info]:
    """{channel: info} of a flat [channel, "<process>\\n<info>", ...] reply."""
    return {
        flat[i].decode(): decode_info(flat[i + 1].partition(b"\n")[2])
        for i in range(0, len(flat), 2)
    }


class RedisPresence(PresenceStore):
    def __init__(self, layer: PresenceLayer, lease: float = DEFAULT_LEASE) -> None:
        super().__init__(layer)
        self.redis = layer
        self.lease = float(lease)
        self.interval = self.lease / 6  # as the queue layer's heartbeat: 5 beats of slack
        self.ttl = math.ceil(3 * self.lease)
        self._keeper: asyncio.Task[None] | None = None
        # group -> channels whose leave (or join) failed or was cancelled: left again by the
        # keeper, so an entry this process does not hold is not kept alive by its renewals.
        self._unleft: dict[str, set[str]] = {}

    def keys(self, group: str) -> list[str]:
        tag = f"{self.redis.prefix}:{{g:{group}}}"
        return [f"{tag}:p", f"{tag}:pl"]

    def _client(self, group: str) -> ScriptHost:
        shards = self.redis.shards
        return shards.batched(0 if shards.size == 1 else shards.index(group))

    async def _run(self, name: str, group: str, args: list[Any]) -> Any:
        with self.redis.redis_op("presence"):  # counted, and raised
            return await run_script(name, self._client(group), self.keys(group), args)

    # -- the store -------------------------------------------------------------------------

    async def _write(self, group: str, channel: str, info: Info) -> bool:
        value = self.redis.process_id.encode() + b"\n" + encode_info(info)
        args = [channel, self.redis.process_id, self.lease, value, self.ttl]
        changed, reaped = await self._run("presence_join", group, args)
        await self.announce_reaped(group, _entries(reaped))
        return bool(changed)

    async def _remove(self, group: str, channel: str, info: Info, last: bool) -> Info | None:
        args = [channel, self.redis.process_id, 1 if last else 0]
        try:
            old = await self._run("presence_leave", group, args)
        except BaseException:  # an error, or cancelled (a cleanup timeout): maybe not left
            self._leave_later(group, channel)
            raise
        return decode_info(old.partition(b"\n")[2]) if old else None

    def _write_failed(self, group: str, channel: str) -> None:
        if channel not in self.held.get(group, {}):  # else it is ours, and stays
            self._leave_later(group, channel)

    def _leave_later(self, group: str, channel: str) -> None:
        """The keeper makes the leave (Redis may have the entry or not: a leave is idempotent)."""
        self._unleft.setdefault(group, set()).add(channel)
        self._joined(group)

    async def _read(self, group: str) -> dict[str, Info]:
        flat, reaped = await self._run("presence_read", group, [])
        await self.announce_reaped(group, _entries(reaped))
        return _entries(flat)

    # -- the keeper: this process's leases -------------------------------------------------

    def _joined(self, group: str) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = self.redis.spawn(self._keep())

    async def _keep(self) -> None:
        """Renew this process's lease in every group where it holds entries, while it does."""
        while self.held or self._unleft:
            await asyncio.sleep(self.interval)
            groups = set(self.held) | set(self._unleft)
            renewals: list[Coroutine[Any, Any, None]] = [self._renew(group) for group in groups]
            # Together: the batched connection sends them in one round trip per shard.
            await asyncio.gather(*renewals)

    async def _renew(self, group: str) -> None:
        try:
            await self._leave_again(group)
            if group not in self.held:
                return
            lost, reaped = await self._run(
                "presence_renew", group, [self.redis.process_id, self.lease, self.ttl]
            )
            await self.announce_reaped(group, _entries(reaped))
            if lost:
                await self._rewrite(group)
        except RedisError:
            pass  # counted by _run; the next beat tries again, within the lease
        except Exception as exc:  # the keeper must go on for the other groups
            logger.warning("fast_channels.presence.renew_failed", group=group, error=repr(exc))

    async def _leave_again(self, group: str) -> None:
        """The leaves that failed in this group, once more (raises while Redis still fails)."""
        for channel in list(self._unleft.get(group, ())):
            if channel in self.held.get(group, {}):  # joined again since: nothing to undo
                self._unleft[group].discard(channel)
                continue
            args = [channel, self.redis.process_id, 0 if group in self.held else 1]
            old = await self._run("presence_leave", group, args)
            self._unleft[group].discard(channel)
            if old:
                info = decode_info(old.partition(b"\n")[2])
                await self._announce([leave_event(group, channel, info, "left")], group, "leave")
        if not self._unleft.get(group, True):
            del self._unleft[group]

    async def _rewrite(self, group: str) -> None:
        """Our lease was gone (we stalled past it and were reaped, or Redis lost its data):
        write our entries again; the others got their leave events, now they get joins."""
        for channel, info in list(self.held.get(group, {}).items()):
            if self.held.get(group, {}).get(channel) is not info:
                continue  # left (or joined again) since the list was taken
            changed = await self._write(group, channel, info)
            if channel not in self.held.get(group, {}):
                # Left while it was written back: the leave ran first, so make it again.
                self._leave_later(group, channel)
            elif changed:
                await self._announce_join(group, channel, info)

    async def _announce_join(self, group: str, channel: str, info: Info) -> None:
        await self._announce([join_event(group, channel, info)], group, "join")
