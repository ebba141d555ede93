from __future__ import annotations

from hypothesis import HealthCheck, settings

# Bounded and reproducible: the same examples on every run, no per-example deadline (CI
# machines are slow and shared), and no complaint when data generation itself is slow.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
