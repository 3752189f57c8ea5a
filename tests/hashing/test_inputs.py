"""Bad and unusual input: every image gets hashes or an error code, never an exception."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from streaming.hashing import HashSpec, hash_image, hash_images

from .corpus import jpeg

ALL = ("ahash", "phash", "dhash", "whash", "whash-db4", "colorhash", "crop-resistant", "pdq")


def photo_bytes() -> bytes:
    from streaming.samples import photos

    return jpeg(photos()["chelsea"])


def save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"not an image at all", "undecodable"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "undecodable"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "undecodable"),
    ],
)
def test_bad_bytes_get_an_error_code(data, code):
    result = hash_image(data, HashSpec(types=ALL))
    assert result.error is not None and result.error.reason == code
    assert result.hashes == {}


def test_truncated_files_never_raise():
    data = photo_bytes()
    for cut in (len(data) // 2, 200, 20):
        result = hash_image(data[:cut], HashSpec(types=ALL))
        assert (result.error is None) == bool(result.hashes)


def test_decompression_bombs_are_refused_from_the_header():
    bomb = save(Image.new("L", (12000, 12000)), "PNG")  # a few KB that declare 144 megapixels
    result = hash_image(bomb, HashSpec(max_pixels=50_000_000))
    assert result.error.reason == "too_large"


def test_unusual_modes_and_formats_hash():
    from streaming.samples import photos

    rgb = Image.fromarray(cv2.cvtColor(photos()["coffee"], cv2.COLOR_BGR2RGB))
    frames = [rgb.convert("P"), rgb.rotate(90).convert("P")]
    variants = {
        "16-bit": cv2.imencode(".png", (np.asarray(rgb.convert("L"), np.uint16) * 257))[
            1
        ].tobytes(),
        "cmyk": save(rgb.convert("CMYK"), "JPEG"),
        "palette": save(rgb.convert("P"), "PNG"),
        "alpha": save(rgb.convert("RGBA"), "PNG"),
        "animated": save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "bmp": save(rgb, "BMP"),
    }
    for name, data in variants.items():
        result = hash_image(data, HashSpec(types=ALL))
        assert result.error is None, (name, result.error)
        assert set(result.hashes) == set(ALL), name
    first_frame = str(imagehash.phash(Image.open(io.BytesIO(variants["animated"]))))
    animated = hash_image(variants["animated"], HashSpec(types=("phash",))).hashes["phash"]
    assert bin(int(first_frame, 16) ^ int(animated, 16)).count("1") <= 2


@pytest.mark.parametrize("size", [(300, 200), (1800, 1200)])  # full and reduced decodes
def test_exif_orientation_is_ignored_like_imagehash(size):
    from streaming.samples import photos

    rgb = Image.fromarray(cv2.cvtColor(photos()["chelsea"], cv2.COLOR_BGR2RGB)).resize(size)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display"
    data = save(rgb, "JPEG", exif=exif.tobytes())
    result = hash_image(data, HashSpec(types=("phash", "colorhash")))
    assert result.error is None, result.error
    reference = str(imagehash.phash(Image.open(io.BytesIO(data))))
    assert bin(int(reference, 16) ^ int(result.hashes["phash"], 16)).count("1") <= 2


def test_batches_keep_order_and_isolate_failures():
    good = photo_bytes()
    results = hash_images([good, b"", good], HashSpec())
    assert [r.error.reason if r.error else None for r in results] == [None, "empty", None]
    assert results[0].hashes == results[2].hashes


def test_hash_command_prints_json_lines_without_spark(tmp_path):
    (tmp_path / "a.jpg").write_bytes(photo_bytes())
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    script = (
        "import sys; from streaming.cli import main; code = main(sys.argv[1:]); "
        "assert 'pyspark' not in sys.modules, 'pyspark was imported'; sys.exit(code)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "hash",
            "--types",
            "phash,pdq",
            str(tmp_path),
            str(tmp_path / "missing.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [Path(line["path"]).name for line in lines] == ["a.jpg", "bad.jpg", "missing.jpg"]
    assert set(lines[0]) == {"path", "phash", "pdq", "pdq_quality"}
    assert lines[1]["error"]["code"] == "undecodable"
    assert lines[2]["error"]["code"] == "missing"
    usage = subprocess.run(
        [sys.executable, "-m", "streaming.cli", "hash", "--types", "nohash", "x"],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2


def neardup(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streaming.cli", *args], text=True, timeout=300, **options
    )


def test_hash_jobs_give_the_lines_of_one_process_in_the_same_order(tmp_path):
    from streaming.samples import photos

    for n, (name, bgr) in enumerate(list(photos().items())[:6]):
        (tmp_path / f"{n}-{name}.jpg").write_bytes(jpeg(bgr))
    (tmp_path / "3-bad.jpg").write_bytes(b"nope")
    args = ("hash", "--types", "phash,pdq", str(tmp_path), str(tmp_path / "missing.jpg"))
    one = neardup(*args, "--jobs", "1", capture_output=True)
    two = neardup(*args, "--jobs", "2", capture_output=True)
    assert one.returncode == two.returncode == 0, two.stderr
    lines = _lines_without_messages(one.stdout)
    assert len(lines) == 8
    assert {"undecodable", "missing"} <= {line.get("error") for line in lines}
    assert _lines_without_messages(two.stdout) == lines
    assert neardup("hash", "--jobs", "0", "x", capture_output=True).returncode == 2


def _lines_without_messages(out: str) -> list[dict]:
    """The JSON lines, an error as its code (PIL's messages name a buffer's address)."""
    return [
        {**line, "error": line["error"]["code"]} if "error" in line else line
        for line in map(json.loads, out.splitlines())
    ]


def test_hash_shows_progress_on_a_terminal_when_the_lines_are_redirected(tmp_path):
    import fcntl
    import os
    import pty
    import struct
    import termios

    (tmp_path / "a.jpg").write_bytes(photo_bytes())
    terminal, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    try:
        done = neardup("hash", "--jobs", "1", str(tmp_path), stdout=subprocess.PIPE, stderr=stderr)
        os.close(stderr)
        shown = b""
        while chunk := _read(terminal):
            shown += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0
    assert json.loads(done.stdout)["path"].endswith("a.jpg")
    assert b"1/1" in shown  # tqdm's bar, counting images


def _read(terminal: int) -> bytes:
    """What the terminal shows next; nothing once the other side is closed and all is read."""
    import os

    try:
        return os.read(terminal, 65536)
    except OSError:  # EIO: the last writer is gone
        return b""
