"""Object storage settings: the one [s3] section (and [gcs], [azure]) in each client's dialect.

Image references are read through obstore, the index is written by Spark's S3A and followed by
delta-rs: all three get their settings from here, so NEARDUP_S3_ENDPOINT_URL points every one of
them at the same store. Users write s3:// everywhere; Spark maps that scheme to S3A.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streaming.config import Config, S3Config
from streaming.errors import ExitCode, NeardupError

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

# A region S3-compatible stores accept when none is given (SigV4 signs one).
FALLBACK_REGION = "us-east-1"
OBJECT_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss")


def scheme(uri: str) -> str:
    """The URI scheme, lower-case; "" for a plain path (a Windows drive letter counts as a path)."""
    found = urlsplit(uri).scheme.lower()
    return "" if len(found) == 1 else found


def on_object_store(uri: str) -> bool:
    return scheme(uri) in OBJECT_SCHEMES


def absolute(path: str) -> str:
    """A plain path made absolute, a URI as it is: Delta's table builder reads a relative
    location as a table name."""
    return str(Path(path).resolve()) if scheme(path) == "" else path


def s3_region(s3: S3Config) -> str | None:
    return s3.region or (FALLBACK_REGION if s3.endpoint_url else None)


def given(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that are set: an unset one (None) leaves the client's own default chain."""
    return {key: value for key, value in settings.items() if value is not None}


def obstore_s3(s3: S3Config) -> dict[str, Any]:
    """S3Store keyword arguments (besides the bucket); unset keys keep obstore's AWS_* chain."""
    config: dict[str, Any] = {"virtual_hosted_style_request": not s3.path_style}
    optional = {
        "endpoint": s3.endpoint_url,
        "region": s3_region(s3),
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
    }
    return config | given(optional)


def allows_http(s3: S3Config) -> bool:
    return (s3.endpoint_url or "").lower().startswith("http://")


def obstore_gcs(config: Config) -> dict[str, Any]:
    path = config.gcs.service_account_path
    return {} if path is None else {"service_account": path}


def obstore_azure(config: Config) -> dict[str, Any]:
    azure = config.azure
    optional = {"account_name": azure.account_name, "account_key": azure.account_key}
    return given(optional)


def open_store(
    config: Config,
    root: str,
    client_options: ClientConfig | None = None,
    retry_config: RetryConfig | None = None,
) -> ObjectStore:
    """The obstore store of a bucket, container or file system root: "s3://bucket",
    "gs://bucket", "az://container", "abfss://container@account.dfs.core.windows.net", "file:///"."""
    from obstore.store import from_url

    kind = scheme(root)
    options: ClientConfig = dict(client_options or {})  # type: ignore[assignment]
    if kind in ("s3", "s3a"):
        settings = obstore_s3(config.s3)
        options["allow_http"] = allows_http(config.s3)
        root = "s3" + root[len(kind) :]
    elif kind == "gs":
        settings = obstore_gcs(config)
    elif kind in ("az", "abfs", "abfss"):
        settings = obstore_azure(config)
    else:
        return from_url(root)
    return from_url(root, client_options=options, retry_config=retry_config, **settings)


def check_reachable(config: Config, uri: str) -> None:
    """Fail fast, before Spark starts, when the store of an s3:// path does not answer or refuses
    the credentials (a missing key is fine: the path may not exist yet)."""
    if scheme(uri) not in ("s3", "s3a"):
        return
    import obstore
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.strip("/")
    store = open_store(
        config,
        f"s3://{bucket}",
        client_options={"timeout": "10s", "connect_timeout": "5s"},
        retry_config={"max_retries": 1},
    )
    where = config.s3.endpoint_url or "AWS"
    try:
        obstore.head(store, f"{key}/_neardup_probe".lstrip("/"))
    except FileNotFoundError:
        return
    except (PermissionDeniedError, UnauthenticatedError) as e:
        raise NeardupError(
            f"{where} refused the credentials for s3://{bucket}: {first_line(e)}\n"
            "set s3.access_key_id and s3.secret_access_key, or the AWS_* variables",
            ExitCode.STORE_REFUSED,
        ) from None
    except Exception as e:  # obstore's GenericError: no answer after its retries
        raise NeardupError(
            f"the S3 endpoint {where} does not answer for s3://{bucket}: {first_line(e)}\n"
            "check s3.endpoint_url (NEARDUP_S3_ENDPOINT_URL); `neardup s3 start` runs one locally",
            ExitCode.STORE_UNREACHABLE,
        ) from None


def first_line(error: BaseException, limit: int = 300) -> str:
    """An error's summary for a message: obstore appends a multi-line debug dump."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def delta_storage_options(config: Config, uri: str) -> dict[str, str]:
    """delta-rs `storage_options` for a table at `uri`: no locking options, since delta-rs 1.x
    commits on S3 with conditional writes (docs/operators.md: Spark's batch writers are not)."""
    kind = scheme(uri)
    if kind in ("s3", "s3a"):
        s3 = config.s3
        options = {
            "AWS_ENDPOINT_URL": s3.endpoint_url,
            "AWS_REGION": s3_region(s3),
            "AWS_ACCESS_KEY_ID": s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not s3.path_style).lower(),
            "AWS_ALLOW_HTTP": "true" if allows_http(s3) else None,
        }
    elif kind == "gs":
        options = {"GOOGLE_SERVICE_ACCOUNT": config.gcs.service_account_path}
    elif kind in ("az", "abfs", "abfss"):
        options = {
            "AZURE_STORAGE_ACCOUNT_NAME": config.azure.account_name,
            "AZURE_STORAGE_ACCOUNT_KEY": config.azure.account_key,
        }
    else:
        options = {}
    return given(options)


def spark_hadoop_conf(s3: S3Config) -> dict[str, str]:
    """Spark settings for S3A, with s3:// served by S3A too (Hadoop has no s3:// file system of its
    own); an explicit [spark.conf] entry wins over these."""
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        # Structured Streaming writes its checkpoint through FileContext, which asks this key.
        "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
        "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style).lower(),
    }
    optional = {
        "spark.hadoop.fs.s3a.endpoint": s3.endpoint_url,
        "spark.hadoop.fs.s3a.endpoint.region": s3_region(s3),
        "spark.hadoop.fs.s3a.access.key": s3.access_key_id,
        "spark.hadoop.fs.s3a.secret.key": s3.secret_access_key,
    }
    return conf | given(optional)
