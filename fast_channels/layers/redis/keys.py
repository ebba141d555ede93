"""The queue layer's key schemes: which Redis key holds what (scripts.py lists them all).

A layer takes one from its shards when it is built (RedisChannelLayer.__init__): plain keys
on Redis servers, hash-tagged ones on a Redis Cluster, where a script may touch one slot only.
The hash tag is what every key a script touches together shares: a process's queue and its
counts (`{<process>}`), a plain channel's list and its in-flight keys (`{ch:<channel>}`), a
group's members and their capacities (`{g:<group>}`). Keys spanning the whole prefix (the
memberships marker, the expiry index, the leases) cannot share a slot with every group's keys:
`prefix_wide` says whether the layer may use them. A group's history (history.py) is in
its slot: `{g:<group>}` on a Cluster (the pub/sub layer's: its channel's slot).
"""

from __future__ import annotations


class PlainKeys:
    """Keys on Redis servers (single, Sentinel-managed or sharded by the layer itself)."""

    __slots__ = ("prefix",)
    prefix_wide = True

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def process_keys(self, process: str) -> tuple[str, str]:
        return f"{self.prefix}:q:{process}", f"{self.prefix}:n:{process}"

    def list_key(self, channel: str) -> str:
        return f"{self.prefix}:ch:{channel}"

    def group_keys(self, group: str) -> list[str]:
        return [f"{self.prefix}:g:{group}", f"{self.prefix}:gc:{group}"]

    def history_keys(self, group: str) -> list[str]:
        """A group's history (history.py): its stream and its {epoch, offset} hash."""
        return [f"{self.prefix}:h:{group}", f"{self.prefix}:hm:{group}"]


class HashTaggedKeys:
    """Keys on a Redis Cluster: one hash tag per process, plain channel and group."""

    __slots__ = ("prefix",)
    prefix_wide = False

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def process_keys(self, process: str) -> tuple[str, str]:
        return f"{self.prefix}:{{{process}}}:q", f"{self.prefix}:{{{process}}}:n"

    def list_key(self, channel: str) -> str:
        return f"{self.prefix}:{{ch:{channel}}}"

    def group_keys(self, group: str) -> list[str]:
        return [f"{self.prefix}:{{g:{group}}}:m", f"{self.prefix}:{{g:{group}}}:c"]

    def history_keys(self, group: str) -> list[str]:
        return [f"{self.prefix}:{{g:{group}}}:h", f"{self.prefix}:{{g:{group}}}:hm"]


class ShardedPubSubKeys(PlainKeys):
    """The pub/sub layer's history keys on a Redis Cluster: in the slot of the group's
    sharded pub/sub channel `<prefix>:g:<group>` (no hash tag: its whole name is hashed), so
    that one script appends to the history and SPUBLISHes. Names hold no braces (the prefix
    and group name rules), so a tag of that whole name puts a key in its slot; the keys still
    start with the prefix (flush() finds them by it)."""

    __slots__ = ()

    def history_keys(self, group: str) -> list[str]:
        tag = f"{self.prefix}:{{{self.prefix}:g:{group}}}"
        return [f"{tag}:h", f"{tag}:hm"]


def key_scheme(prefix: str, cluster: bool) -> PlainKeys | HashTaggedKeys:
    return HashTaggedKeys(prefix) if cluster else PlainKeys(prefix)
