import base64
import os

import pytest

from streaming.config import load_config
from streaming.errors import Rejected
from streaming.sources import Fetcher


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
