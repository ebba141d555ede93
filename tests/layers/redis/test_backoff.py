"""The reconnect loops' backoff: redis-py's equal-jitter formula, counted per loop."""

from __future__ import annotations

from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.memberships import RESTORE_GRACE


def test_each_delay_is_in_the_upper_half_of_the_capped_exponential() -> None:
    backoff = Backoff(base=0.05, cap=2.0)
    for failures in range(12):
        ceiling = min(2.0, 0.05 * 2**failures)
        assert ceiling / 2 <= backoff.next_delay() <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 0.05


def test_a_long_outage_stays_at_the_cap_the_membership_grace_relies_on() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(2000)]  # 2**2000 overflows a float
    assert max(delays) <= Backoff().cap < RESTORE_GRACE
