"""The Spark Connect engine: queries run on a team's Spark cluster; results stay there.

``engine.SparkEngine`` implements :class:`chatdf.engine.base.QueryEngine`;
``registry.SparkRegistry`` registers temporary views; ``dialect`` turns the
guarded tree into Spark SQL; ``plancheck`` checks the analyzed plan reads only
registered views; ``result.SparkResult`` pages and exports on the cluster.
``pyspark-client`` is imported only inside these modules, when first used.
"""

from .engine import SparkEngine
from .registry import SparkRegistry

__all__ = ["SparkEngine", "SparkRegistry"]
