"""Grafana dashboards for fast_channels, generated as JSON into dashboards/."""
