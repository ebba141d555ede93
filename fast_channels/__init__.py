"""Django-Channels-style consumers and channel layers for FastAPI and Starlette."""

__version__ = "2.0.0.dev0"

__all__ = ["__version__"]
