"""Python's cyclic garbage collector, run rarely in the processes that allocate the most.

The program under mocks and the policy pack build large trees of objects they keep to the end of
the run (registered resources, converted requests, manifests). With Python's default
thresholds (700, 10, 10) the collector walks that growing heap again and again: measured with
`bench/gate_scale.py`, 30% of the program's time and a third of the pack's at 5,000 resources.
Reference counting frees nearly everything they drop (few of their objects end in cycles), so a
collection every 50,000 allocations loses little memory and that time. (The gate's own process
and the streamed Checkov measured no gain beyond noise: they keep the defaults.)
"""
from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def collect_rarely() -> None:
    gc.set_threshold(*THRESHOLDS)
