import pytest

from streaming.config import load_config
from streaming.errors import ConfigError


def test_defaults_load_and_match_the_documented_topics():
    config = load_config(environ={})
    assert (config.kafka.images_topic, config.kafka.alerts_topic, config.kafka.dlq_topic) == (
        "images",
        "duplicates",
        "images-dlq",
    )
    assert config.hashing.primary in config.hashing.types


def test_environment_overrides_defaults_and_flags_override_environment():
    env = {
        "NEARDUP_HASHING_THRESHOLD": "7",
        "NEARDUP_KAFKA_LOCAL_PORT": "9192",
        "NEARDUP_HASHING_TYPES": "phash,ahash",
    }
    config = load_config(environ=env, overrides={"hashing.threshold": 5})
    assert config.hashing.threshold == 5
    assert config.kafka.local.port == 9192
    assert config.hashing.types == ["phash", "ahash"]


def test_a_config_file_is_layered_over_the_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[kafka]\nbootstrap_servers = "broker:9092"\nsecurity = {"security.protocol" = "SSL"}\n'
    )
    config = load_config(path, environ={})
    assert config.kafka.bootstrap_servers == "broker:9092"
    assert config.kafka.security == {"security.protocol": "SSL"}
    assert config.kafka.images_topic == "images"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"NEARDUP_HASHING_THRESHOLD": "ten"}, "hashing.threshold"),
        ({"NEARDUP_HASHING_PRIMARY": "colorhash"}, "hashing.primary"),
        ({"NEARDUP_STREAM_REGISTER": "some"}, "stream.register"),
        ({"NEARDUP_HASHING_TYPES": "phash,nohash"}, "hashing.types"),
        ({"NEARDUP_HASHING_GREY": "average"}, "hashing.grey"),
        ({"NEARDUP_HASHING_GREY": "decolor", "NEARDUP_HASHING_EXACT": "true"}, "hashing.grey"),
        ({"NEARDUP_NO_SUCH_KEY": "1"}, "NEARDUP_NO_SUCH_KEY"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(env, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(environ=env)


def test_unknown_key_in_a_file_is_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[hashing]\nthreshhold = 3\n")
    with pytest.raises(ConfigError, match=r"hashing\.threshhold: unknown"):
        load_config(path, environ={})


def test_security_settings_reach_each_kafka_client_in_its_own_form():
    from streaming.kafka_io import client_options, spark_options

    config = load_config(
        environ={},
        overrides={
            "kafka.security": {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
                "required;",
                "sasl_plain_username": "neardup",
            }
        },
    )
    spark = spark_options(config)
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert "kafka.sasl.jaas.config" in spark
    assert not any("_" in key for key in spark)
    python = client_options(config)
    assert (
        python["security_protocol"],
        python["sasl_mechanism"],
        python["sasl_plain_username"],
    ) == (
        "SASL_SSL",
        "PLAIN",
        "neardup",
    )
    assert "sasl_jaas_config" not in python


def test_java_client_numbers_given_as_text_reach_kafka_python_as_numbers():
    """Spark takes every option as text; kafka-python compares its timeouts as numbers."""
    from streaming.kafka_io import client_options, spark_options

    def options(security: dict[str, object]) -> dict[str, object]:
        return client_options(load_config(environ={}, overrides={"kafka.security": security}))

    java_form = {"request.timeout.ms": "10000", "ssl.check.hostname": "false"}
    assert (
        spark_options(load_config(environ={}, overrides={"kafka.security": java_form}))[
            "kafka.request.timeout.ms"
        ]
        == "10000"
    )
    python = options(java_form)
    assert (python["request_timeout_ms"], python["ssl_check_hostname"]) == (10000, False)
    assert options({"retry.backoff.ms": 250})["retry_backoff_ms"] == 250
    with pytest.raises(ConfigError, match=r"kafka\.security: request\.timeout\.ms is a number"):
        options({"request.timeout.ms": "ten seconds"})
    with pytest.raises(ConfigError, match=r"ssl\.check\.hostname is true or false"):
        options({"ssl.check.hostname": "no"})


def test_matching_options_are_off_by_default_and_a_rule_is_checked():
    hashing = load_config(environ={}).hashing
    assert (hashing.dihedral, hashing.unletterbox, hashing.rule) == (False, False, [])
    rule = ["phash <= 8", "phash <= 10 and dhash <= 12"]
    assert load_config(environ={}, overrides={"hashing.rule": rule}).hashing.rule == rule
    for bad, why in (
        (["dhash <= 8"], "must bound phash"),
        (["phash <= 20"], "over hashing.threshold"),
        (["phash <= 8 and pdq <= 30"], "pdq not in hashing.types"),
    ):
        with pytest.raises(ConfigError, match=why):
            load_config(environ={}, overrides={"hashing.rule": bad})
    with pytest.raises(ConfigError, match=r"hashing\.exact"):
        load_config(environ={}, overrides={"hashing.exact": True, "hashing.dihedral": True})


def test_crops_are_off_by_default_and_their_shares_checked_from_each_layer():
    assert load_config(environ={}).hashing.crops == []
    variables = {"NEARDUP_HASHING_CROPS": "[0.1, 0.2]", "NEARDUP_INDEX_LOOKUP": "sharded"}
    assert load_config(environ=variables).hashing.crops == [0.1, 0.2]
    memory = {"index.lookup": "memory"}
    flag = load_config(environ={}, overrides={"hashing.crops": [0.15, 0.3]})  # auto, on a disk
    assert flag.hashing.crops == [0.15, 0.3]
    for bad, why in (
        ([0.5], "under 0.5"),
        ([0.0], "over 0"),
        ([0.125], "whole percent"),
        ([0.2, 0.1], "must increase"),
        ([0.1, 0.1], "must increase"),
        ([0.01, 0.02, 0.03, 0.04, 0.05], "at most 4"),
    ):
        with pytest.raises(ConfigError, match=rf"^hashing\.crops: .*{why}"):
            load_config(environ={}, overrides={**memory, "hashing.crops": bad})
    # the join lookup does not index crops; auto opens it only for a large index on an object
    # store, which the lookup refuses when it opens (tests/unit/test_lookup_choice.py)
    for path in (".state/index", "s3://bucket/index"):
        with pytest.raises(ConfigError, match=r'^hashing\.crops: needs index\.lookup = "memory"'):
            settings = {"index.lookup": "join", "index.path": path, "hashing.crops": [0.1]}
            load_config(environ={}, overrides=settings)
    on_s3 = {"index.lookup": "auto", "index.path": "s3://bucket/index", "hashing.crops": [0.1]}
    assert load_config(environ={}, overrides=on_s3).hashing.crops == [0.1]
    with pytest.raises(ConfigError, match=r"^hashing\.exact: must be false with dihedral, crops"):
        load_config(environ={}, overrides={**memory, "hashing.crops": [0.1], "hashing.exact": True})


def test_confirm_is_off_by_default_and_compiles_into_the_rule_from_each_layer(tmp_path):
    assert load_config(environ={}).hashing.match_rule is None
    path = tmp_path / "c.toml"
    path.write_text('[hashing]\ntypes = ["phash", "dhash", "pdq"]\nconfirm = {dhash = 12}\n')
    from_file = load_config(path, environ={}).hashing
    assert str(from_file.match_rule) == "phash <= 10 and dhash <= 12"
    variable = {"NEARDUP_HASHING_CONFIRM": '{"pdq": 40}'}
    # a table's layers merge key by key, as pydantic-settings merges every table
    assert load_config(path, environ=variable).hashing.confirm == {"dhash": 12, "pdq": 40}
    flag = load_config(path, environ={}, overrides={"hashing.confirm.dhash": 8})
    assert flag.hashing.confirm == {"dhash": 8}
    ruled = flag.replace(**{"hashing.rule": ["phash <= 4", "phash <= 10 and pdq <= 60"]})
    assert str(ruled.hashing.match_rule) == (
        "phash <= 4 and dhash <= 8 or phash <= 10 and pdq <= 60 and dhash <= 8"
    )


# A variable's setting -> the whole message it gets.
MESSAGES = {
    "NEARDUP_HASHING_THRESHOLD=ten": "hashing.threshold: expected an integer, got 'ten'",
    "NEARDUP_HASHING_EXACT=yes": "hashing.exact: expected true or false, got 'yes'",
    "NEARDUP_HASHING_HASH_SIZE=12": "hashing.hash_size: must be 8 or 16, got 12",
    "NEARDUP_KAFKA_PARTITIONS=0": "kafka.partitions: must be positive, got 0",
    "NEARDUP_INDEX_LOOKUP=disk": (
        "index.lookup: must be one of auto, memory, sharded, join, got 'disk'"
    ),
    "NEARDUP_KAFKA_SECURITY=[1]": "kafka.security: expected a table, got [1]",
    "NEARDUP_HASHING_TYPES=phash,nohash": "hashing.types: each must be one of ahash, phash, dhash, "
    "whash, whash-db4, colorhash, crop-resistant, pdq, got ['phash', 'nohash']",
    "NEARDUP_SOURCES_ALLOWED_NETWORKS=10.0.0.0/33": "sources.allowed_networks: each must be an IP "
    "network such as 127.0.0.1/32 or 10.0.0.0/8, got ['10.0.0.0/33']",
    "NEARDUP_SOURCES_RETRIES=-1": "sources.retries: must be 0 or more, got -1",
    "NEARDUP_SPARK_EXECUTOR_TIMEOUT_S=0": "spark.executor_timeout_s: must be positive, got 0",
    "NEARDUP_REVIEW_PORT=70000": "review.port: must be a TCP port, got 70000",
    "NEARDUP_REVIEW_PAGE_SIZE=501": "review.page_size: must be between 1 and 500, got 501",
    "NEARDUP_S3_ACCESS_KEY_ID=id": "s3.access_key_id: must be set together with "
    "secret_access_key, or both left empty, got 'id'",
    "NEARDUP_S3_LOCAL_PORT=x": "s3.local.port: expected an integer, got 'x'",
    'NEARDUP_HASHING_CONFIRM={"pdq": 31}': "hashing.confirm: pdq not in hashing.types",
    'NEARDUP_HASHING_CONFIRM={"phash": 8}': "hashing.confirm: phash is the primary hash: "
    "hashing.threshold bounds it",
    'NEARDUP_HASHING_CONFIRM={"dhash": 65}': "hashing.confirm: dhash <= 65: the bound must be "
    "between 0 and 64, its bits",
    'NEARDUP_HASHING_CONFIRM={"dhash": -1}': "hashing.confirm: dhash <= -1: the bound must be "
    "between 0 and 64, its bits",
    'NEARDUP_HASHING_CONFIRM={"dhash": "12"}': "hashing.confirm.dhash: expected an integer, "
    "got '12'",
    "NEARDUP_HASHING_CONFIRM=12": "hashing.confirm: expected a table, got 12",
}


@pytest.mark.parametrize("setting", MESSAGES)
def test_messages_say_what_was_expected_and_what_came(setting):
    name, _, value = setting.partition("=")
    with pytest.raises(ConfigError) as refused:
        load_config(environ={name: value})
    assert str(refused.value) == MESSAGES[setting]


def test_replace_changes_dotted_keys_and_whole_sections_and_checks_them():
    config = load_config(environ={})
    other = config.replace(**{"hashing.threshold": 3, "cluster.workers": 5})
    assert (other.hashing.threshold, other.cluster.workers) == (3, 5)
    assert config.hashing.threshold != 3  # the original is left as it was
    assert config.replace(cluster=other.cluster).cluster.workers == 5
    with pytest.raises(ConfigError, match=r"hashing\.threshold: must be between 0 and 63"):
        config.replace(**{"hashing.threshold": 64})


def test_lists_and_tables_from_flags_and_variables():
    config = load_config(
        environ={"NEARDUP_SPARK_CONF": '{"spark.ui.enabled": false}'},
        overrides={"sources.allowed_roots": "/data, /srv"},
    )
    assert config.sources.allowed_roots == ["/data", "/srv"]
    assert config.spark.conf == {"spark.ui.enabled": "False"}


def test_a_missing_or_broken_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[hashing\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_config(broken, environ={})


def test_an_empty_string_leaves_a_value_unset(tmp_path):
    config = load_config(environ={})
    assert (config.review.token, config.s3.endpoint_url, config.azure.account_key) == (None,) * 3
    path = tmp_path / "c.toml"
    path.write_text('[review]\ntoken = "secret"\n[s3]\nregion = "eu-west-1"\n')
    config = load_config(path, environ={"NEARDUP_S3_LOCAL_BUCKETS": "a,b"})
    assert (config.review.token, config.s3.region, config.s3.local.buckets) == (
        "secret",
        "eu-west-1",
        ["a", "b"],
    )
    assert config.replace(**{"review.token": ""}).review.token is None
    with pytest.raises(ConfigError, match=r"s3\.region: expected a non-empty string, got 5"):
        config.replace(**{"s3.region": 5})
