"""The runnable demo: chat rooms, an HTTP broadcast endpoint and a job worker over one layer.

Run it with `fast-channels demo` or `python -m fast_channels`; see `fast-channels --help`.
The app needs FastAPI (the `demo` extra); the worker needs only the library.
"""
