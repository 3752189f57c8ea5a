import base64
import os

import pytest

from streaming.config import load_config
from streaming.errors import Rejected
from streaming.sources import Fetcher, Policy


@pytest.fixture
def fetcher(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"x" * 10)
    (root / "big.jpg").write_bytes(b"x" * 2000)
    (root / "dir").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.jpg", root / "escape.jpg")
    config = load_config(
        overrides={
            "sources.allowed_roots": [str(root), "s3://photos/uploads/"],
            "sources.max_bytes": 1000,
            "sources.http_allowlist": ["images.example"],
        },
        environ={},
    )
    with Fetcher(config) as fetcher:
        yield fetcher, root


def reason(fetcher, uri=None, content=None):
    with pytest.raises(Rejected) as e:
        fetcher.read(uri, content)
    return e.value.reason


def test_reads_paths_file_uris_and_inline_content(fetcher):
    f, root = fetcher
    assert f.read(str(root / "a.jpg"), None) == b"x" * 10
    assert f.read((root / "a.jpg").as_uri(), None) == b"x" * 10
    assert f.read(None, base64.b64encode(b"abc").decode()) == b"abc"


def test_refusals_carry_their_dead_letter_reason(fetcher):
    f, root = fetcher
    assert reason(f, str(root / "missing.jpg")) == "missing_file"
    assert reason(f, str(root / "dir")) == "not_a_file"
    assert reason(f, str(root / "big.jpg")) == "too_many_bytes"
    assert reason(f, str(root / ".." / "secret.jpg")) == "outside_roots"
    assert reason(f, str(root / "escape.jpg")) == "outside_roots"
    assert reason(f, "/etc/passwd") == "outside_roots"
    assert reason(f, "ftp://host/a.jpg") == "disallowed_scheme"
    assert reason(f, "http://elsewhere.example/a.jpg") == "disallowed_host"
    assert reason(f, None, "not base64!") == "bad_base64"


@pytest.fixture
def policy(tmp_path):
    config = load_config(
        overrides={
            "sources.allowed_roots": [
                str(tmp_path),
                "s3://photos/uploads/",
                "gs://bucket",
                "https://cdn.example/img/",
            ],
            "sources.http_allowlist": ["images.example"],
            "sources.allowed_networks": ["10.20.0.0/16"],
        },
        environ={},
    )
    return Policy.from_config(config.sources)


def refused(call, *args):
    with pytest.raises(Rejected) as e:
        call(*args)
    return e.value.reason


@pytest.mark.parametrize(
    ("uri", "store", "path"),
    [
        ("s3://photos/uploads/a.jpg", "s3://photos", "uploads/a.jpg"),
        ("s3a://photos/uploads/2026/b.jpg", "s3://photos", "uploads/2026/b.jpg"),
        ("gs://bucket/any/where.jpg", "gs://bucket", "any/where.jpg"),
        ("https://cdn.example/img/a.jpg?v=2", "https://cdn.example", None),
        ("https://CDN.example:443/img/a.jpg", "https://cdn.example", None),
        ("http://images.example/anything.jpg", "http://images.example", None),
    ],
)
def test_uri_roots_admit_what_lies_under_them(policy, uri, store, path):
    location = policy.locate(uri)
    assert (location.store, location.path) == (store, path or uri)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://photos/uploads-2/a.jpg", "outside_roots"),  # a prefix ends at a /
        ("s3://photos/other/a.jpg", "outside_roots"),
        ("s3://photos/uploads/../private/a.jpg", "outside_roots"),
        ("s3://elsewhere/uploads/a.jpg", "outside_roots"),
        ("az://container/a.jpg", "outside_roots"),
        ("https://cdn.example/private/a.jpg", "outside_roots"),
        ("https://cdn.example/img/%2e%2e/private/a.jpg", "outside_roots"),
        ("http://cdn.example/img/a.jpg", "outside_roots"),  # the root is https only
        ("https://unknown.example/img/a.jpg", "disallowed_host"),
        ("ftp://images.example/a.jpg", "disallowed_scheme"),
    ],
)
def test_uri_roots_refuse_what_lies_outside(policy, uri, why):
    assert refused(policy.locate, uri) == why


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("10.20.3.4", True),  # in sources.allowed_networks
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.20.0.9", True),
    ],
)
def test_only_public_or_explicitly_allowed_addresses_are_reached(policy, address, allowed):
    if allowed:
        policy.check_address("host.example", address)
    else:
        assert refused(policy.check_address, "host.example", address) == "disallowed_address"


def test_redirects_stay_inside_the_roots(policy):
    start = policy.locate("https://cdn.example/img/a.jpg")
    assert policy.redirect(start, "/img/b.jpg").path == "https://cdn.example/img/b.jpg"
    assert policy.redirect(start, "http://images.example/c.jpg").uri == start.uri
    assert refused(policy.redirect, start, "/private/a.jpg") == "outside_roots"
    assert refused(policy.redirect, start, "http://169.254.169.254/latest/") == "disallowed_host"
    assert refused(policy.redirect, start, "file:///etc/passwd") == "outside_roots"
    assert refused(policy.redirect, start, None) == "fetch_failed"
