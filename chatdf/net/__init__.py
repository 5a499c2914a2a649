"""Remote bytes: the one guarded egress path (:mod:`.egress`) and its local proxy for Polars."""

from .egress import (
    ALLOW_PRIVATE_HINT,
    MAX_REDIRECTS,
    Egress,
    EgressError,
    is_private_address,
    is_url,
)
from .proxy import EgressProxy, egress_failure

__all__ = [
    "ALLOW_PRIVATE_HINT",
    "MAX_REDIRECTS",
    "Egress",
    "EgressError",
    "EgressProxy",
    "egress_failure",
    "is_private_address",
    "is_url",
]
