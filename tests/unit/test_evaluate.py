"""`neardup evaluate`: labelled photos in, the table and the plot out, no Spark."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streaming.cli import main
from streaming.evaluation import curve, pair_distances
from streaming.samples import photos


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small photos, each in its folder with a re-encoded and a mirrored copy."""
    root = tmp_path_factory.mktemp("labelled")
    for name, image in list(photos().items())[:6]:
        small = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)
        (root / name).mkdir()
        cv2.imwrite(str(root / name / "a.png"), small)
        cv2.imwrite(str(root / name / "b.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 50])
        cv2.imwrite(str(root / name / "c.png"), cv2.flip(small, 1))
    return root


def test_evaluate_reports_each_hash_and_finds_mirrors_with_dihedral_matching(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, turned = tmp_path / "plain", tmp_path / "turned"
    args = ["evaluate", str(labelled), "--truth-from-folders", "--fpr", "0.01"]
    assert main([*args, "--output", str(plain)]) == 0
    assert main(["--set", "hashing.dihedral=true", *args, "--output", str(turned)]) == 0
    table = (plain / "evaluation.md").read_text()
    assert "18 images in 6 groups; dihedral False, unletterbox False, crops none." in table
    assert "| phash | 18/135 |" in table and "| dhash | 18/135 |" in table
    assert (plain / "evaluation.png").read_bytes()[:4] == b"\x89PNG"
    assert "Rules over two hashes" in capsys.readouterr().out

    def recall(report: Path) -> float:
        row = next(r for r in report.read_text().splitlines() if r.startswith("| phash |"))
        return float(row.split("|")[7])

    # a third of the pairs are a photo and its mirror: found only by dihedral matching
    assert recall(plain / "evaluation.md") < 0.7
    assert recall(turned / "evaluation.md") == 1.0
    cropped = tmp_path / "cropped"
    assert main(["--set", "hashing.crops=[0.2]", *args, "--no-plot", "--output", str(cropped)]) == 0
    assert "crops [0.2]." in (cropped / "evaluation.md").read_text()
    assert recall(cropped / "evaluation.md") < 0.7  # a crop is no mirror


def test_evaluate_reads_a_truth_csv_and_refuses_a_missing_file(
    labelled: Path, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("path,group\nastronaut/a.png,x\nastronaut/b.jpg,x\nchelsea/a.png,y\n")
    assert (
        main(
            [
                "evaluate",
                str(labelled),
                "--truth",
                str(truth),
                "--no-plot",
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "3 images in 2 groups" in (tmp_path / "out" / "evaluation.md").read_text()
    truth.write_text("nowhere.png,x\n")
    with pytest.raises(SystemExit):
        main(["evaluate", str(labelled), "--truth", str(truth)])


def test_curves_count_pairs_within_each_threshold() -> None:
    words = np.array([[[0b0000]], [[0b0011]], [[0b1111]]], dtype=np.uint64)
    distances = pair_distances(words)
    assert distances.tolist() == [[0, 2, 4], [2, 0, 2], [4, 2, 0]]
    c = curve("phash", distances, ["a", "a", "b"], 4)
    assert (c.positives, c.negatives) == (1, 2)
    assert c.true.tolist() == [0, 0, 1, 1, 1] and c.false.tolist() == [0, 0, 1, 1, 2]
    assert c.threshold_at(0.0) == 1 and c.average_precision == 0.5


def test_crops_meet_the_other_images_own_hash_either_way_round() -> None:
    """hashing.crops: an image's hash meets the others' crops, either way round; a variant other
    than the hash itself never meets a crop, as in the stream."""
    variants = np.array(
        [[[0b0000_0000], [0b1111_0000]], [[0b0000_1111], [0b0000_1111]], [[0b1111_1111]] * 2],
        dtype=np.uint64,
    )
    crops = np.array([[[0b0000_1110]], [[0b0011_1111]], [[0b1111_0000]]], dtype=np.uint64)
    assert pair_distances(variants[:, :1]).tolist() == [[0, 4, 8], [4, 0, 4], [8, 4, 0]]
    # 0-1: 1's hash is 1 bit from 0's crop; 1-2: 2's hash is 2 bits from 1's crop; 0-2: 0's
    # variant equals 2's crop, but a variant never meets a crop: 4, from 2's hash
    assert pair_distances(variants, crops).tolist() == [[0, 1, 4], [1, 0, 2], [4, 2, 0]]
    assert pair_distances(variants, crops[:, :0]).tolist() == pair_distances(variants).tolist()
