"""The query engines: guarded Polars SQL in a pool of worker processes (the default),
or Spark Connect (``engine.spark``, loaded only with ``engine="spark"``); both
implement :class:`~chatdf.engine.base.QueryEngine`.

``Engine`` runs queries; ``guard`` is the read-only check it applies first,
exported for callers that want to validate SQL without running it.
"""

from .pool import Engine
from .sqlguard import GuardedQuery, guard

__all__ = ["Engine", "GuardedQuery", "guard"]
