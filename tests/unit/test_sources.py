import base64
import os

import pytest

from streaming.config import load_config
from streaming.errors import Rejected
from streaming.sources import Sources


@pytest.fixture
def sources(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"x" * 10)
    (root / "big.jpg").write_bytes(b"x" * 2000)
    (root / "dir").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.jpg", root / "escape.jpg")
    config = load_config(
        overrides={
            "sources.allowed_roots": [str(root)],
            "sources.max_bytes": 1000,
            "sources.http_allowlist": ["images.example"],
        },
        environ={},
    )
    return Sources.from_config(config.sources), root


def reason(sources, uri=None, content=None):
    with pytest.raises(Rejected) as e:
        sources.read(uri, content)
    return e.value.reason


def test_reads_paths_file_uris_and_inline_content(sources):
    s, root = sources
    assert s.read(str(root / "a.jpg"), None) == b"x" * 10
    assert s.read((root / "a.jpg").as_uri(), None) == b"x" * 10
    assert s.read(None, base64.b64encode(b"abc").decode()) == b"abc"


def test_refusals_carry_their_dead_letter_reason(sources):
    s, root = sources
    assert reason(s, str(root / "missing.jpg")) == "missing_file"
    assert reason(s, str(root / "dir")) == "not_a_file"
    assert reason(s, str(root / "big.jpg")) == "too_many_bytes"
    assert reason(s, str(root / ".." / "secret.jpg")) == "outside_roots"
    assert reason(s, str(root / "escape.jpg")) == "outside_roots"
    assert reason(s, "/etc/passwd") == "outside_roots"
    assert reason(s, "ftp://host/a.jpg") == "disallowed_scheme"
    assert reason(s, "http://elsewhere.example/a.jpg") == "disallowed_host"
    assert reason(s, None, "not base64!") == "bad_base64"
