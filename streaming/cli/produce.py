"""`neardup produce PATH...`: one image reference per image file or object to the images topic
(key = id)."""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from streaming.cli.metadata import add_meta_argument, meta_object
from streaming.config import Config
from streaming.storage import on_object_store

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="send image references to Kafka",
        description=(
            "Send one JSON reference per image (schemas/image_ref.schema.json) to the images topic."
            " Directories are walked recursively for image files, and object-store prefixes "
            "(s3://bucket/prefix/, gs://, az://) for image objects. The id is the file's absolute "
            "path or the object's URI, so producing the same images again gives the same ids."
        ),
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="image files, directories or object URI prefixes"
    )
    parser.add_argument(
        "--bank", help="register the images as members of this bank of known images"
    )
    add_meta_argument(parser, "the images")
    parser.add_argument(
        "--inline", action="store_true", help="send the bytes in the message (base64), not the path"
    )
    parser.add_argument("--topic", help="default: kafka.images_topic")
    parser.add_argument("--bootstrap-servers", help="default: kafka.bootstrap_servers")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: Config) -> int:
    from kafka.errors import MessageSizeTooLargeError

    from streaming import kafka_io

    if args.bootstrap_servers:
        config = config.replace(**{"kafka.bootstrap_servers": args.bootstrap_servers})
    topic = args.topic or config.kafka.images_topic
    kafka_io.ensure_topics(config, [topic])
    producer = kafka_io.producer(config)
    limit = producer.config["max_request_size"]
    sent = []
    refusals = []
    documents = references(config, args.paths, args.bank, args.inline, meta_object(args.meta))
    for key, document in documents:
        try:
            sent.append((key, producer.send(topic, key=key, value=document)))
        except MessageSizeTooLargeError as e:  # over max_request_size: refused before sending
            refusals.append(f"{key}: {not_sent(e, limit, args.inline)}")
    producer.flush()
    producer.close()
    # The broker's own limit can be lower: its refusal comes back in the record's future.
    refusals += [
        f"{key}: {not_sent(future.exception, limit, args.inline)}"
        for key, future in sent
        if future.failed()
    ]
    for refusal in refusals:
        print(refusal, file=sys.stderr)
    delivered = sum(1 for _, future in sent if future.succeeded())
    print(f"sent {delivered} image references to {topic}", file=sys.stderr)
    return 0 if delivered and not refusals else 1


def not_sent(error: Exception, limit: int, inline: bool) -> str:
    from kafka.errors import MessageSizeTooLargeError

    if not isinstance(error, MessageSizeTooLargeError):
        return f"not sent: {error}"
    advice = "send it by path, without --inline" if inline else "shorten its path"
    return (
        f"refused: the reference is larger than a Kafka message may be ({limit} bytes, the "
        f"producer's max_request_size; the broker's message.max.bytes may be lower): {advice}"
    )


def references(
    config: Config,
    names: Sequence[str],
    bank: str | None,
    inline: bool,
    meta: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict]]:
    """(key, reference) of every image file under the paths and image object under the prefixes,
    each with `meta` when given."""
    extra = {} if meta is None else {"meta": meta}
    for name in names:
        if on_object_store(name):
            for uri in image_objects(config, name):
                yield uri, {**object_reference(uri, bank), **extra}
        else:
            for path in image_files([name]):
                yield str(path), {**reference(path, bank, inline), **extra}


def image_files(paths: Sequence[str]) -> Iterator[Path]:
    """Files given by name, and image files under directories, in a stable order."""
    for name in paths:
        path = Path(name).absolute()
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield path


def image_objects(config: Config, prefix: str) -> Iterator[str]:
    """The URIs of the image objects under an object-store prefix, in key order."""
    import obstore

    from streaming.storage import open_store

    scheme, _, rest = prefix.partition("://")
    bucket, _, key_prefix = rest.partition("/")
    store = open_store(config, f"{scheme}://{bucket}")
    keys = [
        meta["path"]
        for page in obstore.list(store, key_prefix or None)
        for meta in page
        if Path(meta["path"]).suffix.lower() in IMAGE_SUFFIXES
    ]
    yield from (f"{scheme}://{bucket}/{key}" for key in sorted(keys))


def object_reference(uri: str, bank: str | None) -> dict:
    return {"id": uri, "uri": uri, **({"bank": bank} if bank else {})}


def reference(path: Path, bank: str | None, inline: bool) -> dict:
    document: dict = {"id": str(path)}
    if inline:
        document["content"] = base64.b64encode(path.read_bytes()).decode()
    else:
        document["uri"] = str(path)
    if bank:
        document["bank"] = bank
    return document
