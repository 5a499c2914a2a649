"""One local Spark cluster (master, two workers, Connect server) for the whole test session.

A plugin (``pytest_plugins`` in tests/conftest.py), so tests/spark and the browser
journey share one cluster when they run together.

In CI (``CI`` set) a missing Spark install fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.spark.cluster import LocalCluster, spark_home

HOME = spark_home()  # read at import: the autouse fixture clears CHATDF_* per test


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[LocalCluster]:
    if HOME is None:
        message = (
            "No full pyspark to run a Spark cluster: set CHATDF_TEST_SPARK_HOME or run "
            "bash .ci/run (it makes .spark-venv)."
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = LocalCluster(HOME).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def spark_remote(spark_cluster: LocalCluster) -> str:
    return spark_cluster.remote
