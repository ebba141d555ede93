"""Operations artefacts for fast_channels: dashboards generator and load generator."""
