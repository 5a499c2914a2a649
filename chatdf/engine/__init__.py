"""The query engine: guarded Polars SQL run in a pool of worker processes.

``Engine`` runs queries; ``guard`` is the read-only check it applies first,
exported for callers that want to validate SQL without running it.
"""

from .pool import Engine
from .sqlguard import GuardedQuery, guard

__all__ = ["Engine", "GuardedQuery", "guard"]
