"""How the ``ray`` backend cuts a run's shards into tasks.

One function, shared by the backend (which submits one Ray task per batch) and by the
estimate's model of that backend, so the two cannot drift apart.
"""

from __future__ import annotations

__all__ = ["TASKS_PER_CPU", "ray_batches"]

#: Batches (Ray tasks) per CPU of the cluster: enough to balance uneven shards across
#: workers, few enough that Ray's per-task cost (about a millisecond) stays small next to the
#: shards' work.
TASKS_PER_CPU = 4


def ray_batches(
    shards: list[int], cpus: int, tasks_per_cpu: int = TASKS_PER_CPU
) -> list[list[int]]:
    """Cuts ``shards`` into at most ``cpus * tasks_per_cpu`` batches, one Ray task each.

    Batch ``i`` takes every ``n``-th shard starting at position ``i`` (``shards[i::n]``), so
    neighbouring shards, whose costs are often alike, land in different batches. There are
    ``n = max(1, min(len(shards), cpus * tasks_per_cpu))`` batches; empty ones are dropped, so
    no shards give no batches.
    """
    n_batches = max(1, min(len(shards), cpus * tasks_per_cpu))
    batches = [shards[i::n_batches] for i in range(n_batches)]
    return [b for b in batches if b]
