"""Safe defaults: a session on this machine alone (local[...], or `neardup cluster start`'s master)
listens on the loopback address only. Spark binds its UI, which asks no credentials, and its ports
to every interface unless SPARK_LOCAL_IP says otherwise."""

from __future__ import annotations

import pytest

from streaming.local.spark import on_loopback
from tests.listening import beyond_loopback, listening


def test_the_local_session_listens_on_the_loopback_address_only(spark):
    jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    assert listening(jvm), "the UI and the driver's ports listen"
    assert beyond_loopback(jvm) == set()


@pytest.mark.parametrize(
    ("master", "alone"),
    [
        ("local[2]", True),
        ("local[*]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost", True),
        ("spark://127.0.0.1:7077,127.0.0.1:7078", True),
        ("spark://spark-master:7077", False),
        ("spark://127.0.0.1:7077,spark-master:7077", False),
        ("yarn", False),
    ],
)
def test_which_masters_keep_to_the_loopback_address(master, alone):
    assert on_loopback(master) is alone
