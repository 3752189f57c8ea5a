"""`neardup dedup DIR --review`: the batch's clusters with undouble's suggestion, chosen by keyboard
in a real browser, exported as the list of files to remove."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import expect

from streaming.batch.dedup import find_pairs
from streaming.review.app import clusters_app
from streaming.review.clusters import Cluster, Member, clusters, removals
from streaming.review.serve import serving
from streaming.samples import write_samples
from streaming.sources import Fetcher

from .server import fetch


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two photos, each with a half-size copy and a blurred copy of full size."""
    root = tmp_path_factory.mktemp("dedup")
    for original in write_samples(root / "src", variants_of=0).originals[:2]:
        image = cv2.imread(str(original))
        cv2.imwrite(str(root / f"{original.stem}-a-full.png"), image)
        half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / f"{original.stem}-b-half.png"), half)
        cv2.imwrite(
            str(root / f"{original.stem}-c-blurred.png"), cv2.GaussianBlur(image, (9, 9), 0)
        )
    for path in (root / "src" / "originals").iterdir():
        path.unlink()
    return root


def test_the_suggestion_is_the_largest_then_the_sharpest(folder, config):
    config = config.replace(**{"sources.allowed_roots": [str(folder)]})
    pairs = [
        (str(folder / "astronaut-a-full.png"), str(folder / "astronaut-b-half.png"), 2),
        (str(folder / "astronaut-a-full.png"), str(folder / "astronaut-c-blurred.png"), 3),
    ]
    with Fetcher(config) as fetcher:
        (found,) = clusters(pairs, fetcher, config.sources.max_pixels)
    names = [Path(m.path).name for m in found.members]
    assert names[found.suggested] == "astronaut-a-full.png"
    sizes = {Path(m.path).name: (m.width, m.height) for m in found.members}
    assert sizes["astronaut-b-half.png"][0] * 2 == sizes["astronaut-a-full.png"][0]
    full, blurred = (m for m in found.members if "half" not in m.path)
    assert full.sharpness > blurred.sharpness
    same_size = Cluster((Member("a", 10, 10, 1.0), Member("b", 10, 10, 5.0)), {})
    assert same_size.suggested == 1
    assert removals([found, same_size], {0: found.suggested, 1: None}) == sorted(
        m.path for m in found.members if "full" not in m.path
    )


def test_the_page_closes_its_fetcher_when_its_server_stops(folder, config, tmp_path):
    """Its thumbnails' fetch thread ends, its http session closed (left open, aiohttp reported
    an "Unclosed client session" when it was collected at the end of a run)."""

    def fetch_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "neardup-fetch"}

    before = fetch_threads()
    config = config.replace(**{"sources.allowed_roots": [str(folder)]})
    member = Member(str(folder / "astronaut-a-full.png"), 1, 1, 1.0)
    app = clusters_app(config, [Cluster((member,), {})], tmp_path / "remove.txt", "d", None)
    with serving(app) as url:
        status, headers, _ = fetch(f"{url}/thumb/0/0")
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert fetch_threads() - before
    assert not fetch_threads() - before


@pytest.mark.slow
def test_keep_choices_by_keyboard_become_the_list_of_files_to_remove(
    spark, config, folder, page, tmp_path
):
    config = config.replace(**{"sources.allowed_roots": [str(folder)]})
    pairs, failed = find_pairs(spark, config, str(folder))
    assert not failed
    with Fetcher(config) as fetcher:
        found = clusters(
            [(p.a, p.b, p.distance) for p in pairs], fetcher, config.sources.max_pixels
        )
    assert len(found) == 2 and all(len(c.members) == 3 for c in found)
    output = tmp_path / "remove.txt"
    with serving(clusters_app(config, found, output, "dedup", token=None)) as url:
        page.goto(url)
        sections = page.locator("section.cluster")
        expect(sections).to_have_count(2)
        expect(sections.nth(0).locator(".member.chosen .path")).to_contain_text("-a-full.png")
        page.keyboard.press("y")  # keep the suggestion of the first cluster
        expect(page.locator("#removal-count")).to_have_text("2")
        page.keyboard.press("l")  # the second cluster: the next image, then keep all
        page.keyboard.press("n")
        expect(sections.nth(1)).to_have_attribute("data-keep", "all")
        page.keyboard.press("u")
        expect(sections.nth(1)).to_have_attribute("data-keep", "")
        page.keyboard.press("y")  # keep the member chosen before: the one after the suggestion
        expect(page.locator("#removal-count")).to_have_text("4")
        exported = page.request.get(f"{url}/remove.txt").text()
    kept = {c.members[c.suggested].path for c in found[:1]}
    second = found[1]
    kept.add(second.members[min(second.suggested + 1, 2)].path)
    every = {m.path for c in found for m in c.members}
    assert output.read_text().splitlines() == sorted(every - kept) == exported.splitlines()
