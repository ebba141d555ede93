"""Lua scripts of the queue layer: each send, group_send (per shard) and pop is one round trip.

The scripts are the files in lua/ (shipped in the wheel, read with importlib.resources), each
sent after lua/prelude.lua, the functions they share; each file starts with its KEYS, ARGV and
reply. This module loads them and calls them by SHA.

Keys (P = the layer prefix):
  P:q:<process>   list of frames for every process-local channel of one layer instance
  P:n:<process>   hash channel -> frames for it still in P:q:<process> (the capacity count)
  P:ch:<channel>  list of frames for a plain (non-process-local) channel
  P:g:<group>     sorted set of member channels scored by join time, on the members' shard
  P:gc:<group>    hash member -> capacity, only for members with a non-default capacity
  P:exp           sorted set: key of a P:q:<process> or P:ch:<channel> list -> newest expires-at
                  of its frames; SWEEP counts and removes the frames of keys nobody read
  P:leases        sorted set: process -> Redis time its receive loop's lease ends (HEARTBEAT);
                  GROUP_SEND reaps the members of a process whose lease ended
  P:h:<group>     a history group's stream (history.py): entries <offset>-0 {e, p}
  P:hm:<group>    hash {epoch, offset} beside it
A frame is "<expires-at>\\n<target channels>\\n<payload>" (see envelope.py); a history
group's head is "<expires-at> <epoch> <offset> <group>".

On a Redis Cluster (keys.py, groupsend.py) the same keys carry hash tags so each script
touches one slot:
P:{<process>}:q and P:{<process>}:n, P:{ch:<channel>}, P:{g:<group>}:m and P:{g:<group>}:c.
There group_send is GROUP_MEMBERS in the group's slot, then one DELIVER per member process
(and one SEND_LIST per plain channel), pipelined: one round trip per node involved. P:exp and
P:leases would span slots, so a cluster passes no such keys: its data keys expire by TTL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import ScriptHost

# Every script called by name (reliable.py calls "claim"): lua/<name>.lua.
NAMES = (
    "send_local",
    "send_list",
    "ack",
    "pop",
    "group_send",
    "group_members",
    "deliver",
    "heartbeat",
    "sweep",
    "claim",
    "read_history",
    "history_publish",
)
PRELUDE = "prelude"  # lua/prelude.lua, sent first with every script
HISTORY_PRELUDE = "history_prelude"  # lua/history_prelude.lua, then, for these only:
HISTORY_USERS = frozenset({"group_send", "group_members", "read_history", "history_publish"})


def lua_source(name: str) -> str:
    """The text of lua/<name>.lua, from the installed package (a wheel, a zip or a checkout)."""
    lua = resources.files("fast_channels.layers.redis") / "lua"
    return (lua / f"{name}.lua").read_text(encoding="utf-8")


class _Script:
    """A script's body (the prelude, then its own file), with the SHA1 EVALSHA names it by."""

    __slots__ = ("body", "sha")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sha = hashlib.sha1(body).hexdigest()


def _load_all() -> dict[str, _Script]:
    # Read once, at import: a file missing from an install fails here, naming it, not at the
    # first send.
    prelude = lua_source(PRELUDE)
    history = f"{prelude}\n{lua_source(HISTORY_PRELUDE)}"
    return {
        name: _Script(
            f"{history if name in HISTORY_USERS else prelude}\n{lua_source(name)}".encode()
        )
        for name in NAMES
    }


_SCRIPTS = _load_all()


def _script(name: str) -> _Script:
    script = _SCRIPTS.get(name)
    if script is None:
        raise ValueError(f"no Lua script named {name!r}: expected one of {NAMES}")
    return script


class Scripts:
    """The queue layer's scripts, loaded once per server and called by SHA (EVALSHA); a
    script is loaded again on NOSCRIPT (after a Redis restart or SCRIPT FLUSH)."""

    async def _call(self, name: str, client: ScriptHost, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis) and calling
        again."""
        script = _script(name)
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(script.body)
            return await client.evalsha(script.sha, len(keys), *keys, *args)

    # Plain functions returning _call's coroutine: a send awaits one frame less.

    def send_local(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("send_local", client, keys, args)

    def send_list(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("send_list", client, keys, args)

    def pop(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[list[Any]]:
        return self._call("pop", client, keys, args)

    def group_send(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[int]]:
        return self._call("group_send", client, keys, args)

    def group_members(
        self, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[list[Any]]:
        return self._call("group_members", client, keys, args)

    def heartbeat(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[int]:
        return self._call("heartbeat", client, keys, args)

    def sweep(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[list[int]]:
        return self._call("sweep", client, keys, args)

    def run(
        self, name: str, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[Any]:
        """A script whose caller lives in another module (reliable.py: "claim")."""
        return self._call(name, client, keys, args)

    def ack_sha(self) -> str:
        """The SHA of ACK, for EVALSHA queued in the receive loop's pipeline."""
        return _SCRIPTS["ack"].sha

    def deliver_sha(self) -> str:
        """The SHA of DELIVER, for EVALSHA queued in a (cluster) pipeline."""
        return _SCRIPTS["deliver"].sha

    def send_list_sha(self) -> str:
        return _SCRIPTS["send_list"].sha

    async def load(self, client: ScriptHost, sha: str) -> None:
        """Load the script with this SHA (on every primary of a cluster), after NOSCRIPT."""
        for script in _SCRIPTS.values():
            if script.sha == sha:
                await client.script_load(script.body)
