"""One [s3] section, spoken in each client's dialect: obstore (images), S3A (Spark: index and
checkpoint), delta-rs (the resident lookup)."""

import pytest

from streaming.config import load_config
from streaming.errors import ConfigError
from streaming.storage import delta_storage_options, obstore_s3, spark_hadoop_conf


def test_one_endpoint_variable_points_every_client_at_the_same_store():
    config = load_config(
        environ={
            "NEARDUP_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "NEARDUP_S3_PATH_STYLE": "true",
            "NEARDUP_S3_ACCESS_KEY_ID": "id",
            "NEARDUP_S3_SECRET_ACCESS_KEY": "secret",
        }
    )
    assert obstore_s3(config.s3) == {
        "endpoint": "http://127.0.0.1:9000",
        "region": "us-east-1",  # S3-compatible stores sign with some region
        "virtual_hosted_style_request": False,
        "access_key_id": "id",
        "secret_access_key": "secret",
    }
    spark = spark_hadoop_conf(config.s3)
    assert spark["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert spark["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert spark["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert spark["spark.hadoop.fs.s3a.access.key"] == "id"
    delta = delta_storage_options(config, "s3://lake/index")
    assert delta["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert delta["AWS_ALLOW_HTTP"] == "true"
    assert delta["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "false"
    assert delta_storage_options(config, "/local/index") == {}


def test_by_default_every_client_keeps_the_standard_aws_chain():
    s3 = load_config(environ={}).s3
    assert obstore_s3(s3) == {"virtual_hosted_style_request": True}
    assert not any(
        key.endswith(("access.key", "secret.key", "endpoint", "region"))
        for key in spark_hadoop_conf(s3)
    )
    assert set(delta_storage_options(load_config(environ={}), "s3://b/i")) == {
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST"
    }


def test_half_a_key_pair_or_a_bad_network_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"s3\.access_key_id"):
        load_config(environ={"NEARDUP_S3_ACCESS_KEY_ID": "id"})
    with pytest.raises(ConfigError, match=r"sources\.allowed_networks"):
        load_config(environ={"NEARDUP_SOURCES_ALLOWED_NETWORKS": "10.0.0.0/33"})
