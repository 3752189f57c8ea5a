"""The manifest of `neardup index add --manifest` and the `--meta KEY=VALUE` arguments."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from streaming.batch.manifest import ManifestEntry, parse_line, read_chunks
from streaming.cli import build_parser
from streaming.cli.metadata import meta_item, meta_object
from streaming.cli.produce import references
from streaming.config import load_config
from streaming.errors import Reason

LIMIT = 200


def test_a_good_line_gives_its_entry_and_the_id_defaults_as_for_paths(tmp_path):
    line = parse_line(json.dumps({"uri": "a/b.jpg", "meta": {"sku": "12"}}), 3, LIMIT)
    absolute = str(Path("a/b.jpg").absolute())
    assert line.number == 3 and line.refusal is None
    assert line.entry == ManifestEntry(absolute, absolute, {"sku": "12"})
    named = parse_line('{"id": "cat-1", "uri": "s3://bucket/x.png"}', 4, LIMIT)
    assert named.entry == ManifestEntry("cat-1", "s3://bucket/x.png", None)
    on_disk = parse_line(json.dumps({"uri": f"file://{tmp_path}/c.png"}), 5, LIMIT)
    assert on_disk.entry is not None and on_disk.entry.uri == f"{tmp_path}/c.png"


def test_the_line_meta_lies_over_the_calls_meta():
    line = parse_line('{"uri": "/x.png", "meta": {"a": 1}}', 1, LIMIT, {"a": "0", "b": "2"})
    assert line.entry is not None and line.entry.meta == {"a": 1, "b": "2"}
    plain = parse_line('{"uri": "/x.png"}', 1, LIMIT, {"b": "2"})
    assert plain.entry is not None and plain.entry.meta == {"b": "2"}


@pytest.mark.parametrize(
    ("text", "reason", "says"),
    [
        ('{"uri": "/x.png"', Reason.MALFORMED_JSON, "not JSON"),
        ('["/x.png"]', Reason.SCHEMA_VIOLATION, "JSON object, not list"),
        ('{"id": "a"}', Reason.SCHEMA_VIOLATION, "uri is missing"),
        ('{"uri": 7}', Reason.SCHEMA_VIOLATION, "uri is missing or not a string"),
        ('{"uri": "/x.png", "id": ""}', Reason.SCHEMA_VIOLATION, "id is not"),
        ('{"uri": "/x.png", "meta": [1]}', Reason.SCHEMA_VIOLATION, "meta is a JSON object"),
        ('{"uri": "/x.png", "bank": "b"}', Reason.SCHEMA_VIOLATION, "unknown field 'bank'"),
        (json.dumps({"uri": "/x.png", "meta": {"m": "x" * LIMIT}}), Reason.META_TOO_LARGE, "over"),
    ],
)
def test_a_bad_line_is_refused_with_its_reason(text, reason, says):
    line = parse_line(text, 9, LIMIT)
    assert line.entry is None and line.refusal is not None and line.number == 9
    assert line.refusal.reason is reason and says in line.refusal.message


def test_chunks_number_the_lines_of_the_file_and_skip_blank_ones():
    text = b'{"uri": "/a.png"}\n\nnot json\n{"uri": "/b.png"}\n{"uri": "/\xff.png"}\n'
    chunks = list(read_chunks(io.BytesIO(text), 2, LIMIT))
    assert [[line.number for line in chunk] for chunk in chunks] == [[1], [3, 4], [5]]
    refusals = [line.refusal for chunk in chunks for line in chunk]
    assert [None if r is None else r.reason for r in refusals] == [
        None,
        Reason.MALFORMED_JSON,
        None,
        Reason.NOT_UTF8,
    ]


def test_meta_arguments_make_an_object_and_a_bad_one_is_a_usage_error(capsys):
    assert meta_object([meta_item("case=c-17"), meta_item("note=a=b"), meta_item("case=c-18")]) == {
        "case": "c-18",
        "note": "a=b",
    }
    assert meta_object([]) is None
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        meta_item("nokey")
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["index", "add", "x", "--bank", "b", "--meta", "oops"])
    assert usage.value.code == 2
    assert "--meta takes KEY=VALUE, not 'oops'" in capsys.readouterr().err


def test_produce_puts_the_meta_into_every_reference(tmp_path):
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_bytes(b"")
    parsed = build_parser().parse_args(["produce", str(tmp_path), "--meta", "source=vendor-x"])
    documents = references(
        load_config(), parsed.paths, "catalogue", False, meta_object(parsed.meta)
    )
    assert [document for _, document in documents] == [
        {
            "id": str(tmp_path / n),
            "uri": str(tmp_path / n),
            "bank": "catalogue",
            "meta": {"source": "vendor-x"},
        }
        for n in ("a.png", "b.jpg")
    ]


def test_index_add_without_its_images_is_refused_before_a_jvm_starts(tmp_path):
    def index_add(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "streaming.cli", "index", "add", "--bank", "b", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    for args, says in (
        ((), "PATHs or --manifest"),
        (("x.png", "--manifest", str(tmp_path / "m.jsonl")), "PATHs or --manifest"),
        (("--manifest", str(tmp_path / "m.jsonl")), "no such file"),
    ):
        refused = index_add(*args)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
