"""Exceptions raised by consumers and channel layers."""


class InvalidChannelLayerError(ValueError):
    """A consumer asked for a channel layer that is missing or cannot do what it needs."""


class AcceptConnection(Exception):
    """Raised in `connect()` to accept the connection."""


class DenyConnection(Exception):
    """Raised in `connect()` to deny the connection (HTTP 403 before accept)."""


class StopConsumer(Exception):
    """Raised by a handler to stop the consumer cleanly."""


class ChannelFull(Exception):
    """The channel is at capacity: the message was not queued."""


class MessageTooLarge(Exception):
    """The serialized message is larger than the layer accepts: nothing was sent."""


class ClientDisconnected(StopConsumer, OSError):
    """A send found the client gone. It stops the consumer like StopConsumer (it is not a
    handler error), and `except OSError` still catches it, as it caught the server's error."""
