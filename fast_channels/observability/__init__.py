"""Metrics, tracing and logs for consumers and layers. Imports nothing else of ours."""
