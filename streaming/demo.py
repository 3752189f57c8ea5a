"""`make demo`: the main job end to end on the embedded defaults.

Writes sample photos with planted near-duplicates (and one corrupt file), starts the local broker if
it is not running, produces one reference per file, runs `neardup stream --available-now` on a fresh
checkpoint and index under demo-out/, prints the alerts it published and a one-line summary, and
stops the broker again if it started it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

from streaming import kafka_io
from streaming.cli import quiet_clients
from streaming.cli.produce import image_files, reference
from streaming.config import Config, load_config
from streaming.local import kafka
from streaming.samples import SampleSet, write_samples

OUT = Path("demo-out")
log = logging.getLogger("neardup.demo")


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    quiet_clients()
    shutil.rmtree(OUT, ignore_errors=True)
    samples = write_samples(OUT / "images")
    (OUT / "images" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    run = time.strftime("%Y%m%d%H%M%S")
    config = load_config(
        overrides={
            "index.path": str(OUT / "index"),
            "stream.checkpoint": str(OUT / "checkpoint"),
            "sources.allowed_roots": [str(OUT / "images")],
            # Topics of their own per run, so an earlier demo's messages never show up in this one.
            "kafka.images_topic": f"demo-{run}-images",
            "kafka.alerts_topic": f"demo-{run}-duplicates",
            "kafka.dlq_topic": f"demo-{run}-images-dlq",
        }
    )
    started = kafka.running_pid(config) is None
    log.info(kafka.start(config))
    try:
        return demo(config, samples)
    finally:
        if started:
            log.info(kafka.stop(config))


def demo(config: Config, samples: SampleSet) -> int:
    from streaming.local.spark import spark_session
    from streaming.stream.job import StreamOptions, start_stream

    files = list(image_files([str(OUT / "images")]))
    kafka_io.ensure_topics(config, [config.kafka.images_topic])
    producer = kafka_io.producer(config)
    for path in files:
        producer.send(
            config.kafka.images_topic, key=str(path), value=reference(path, None, inline=False)
        )
    producer.flush()
    log.info(
        "produced %d image references to %s (%d planted near-duplicates)",
        len(files),
        config.kafka.images_topic,
        len(samples.variants),
    )

    spark = spark_session(config)
    query = start_stream(spark, config, StreamOptions.from_config(config, available_now=True))
    query.awaitTermination()
    # The stream is done, but Spark keeps its Kafka producer cached: once the demo stops the broker
    # it would log a failed reconnection every second until the process exits. Nothing the JVM says
    # now is news.
    spark.sparkContext.setLogLevel("ERROR")
    if query.exception():
        log.error("the query failed: %s", query.exception())
        return 1

    alerts = [a for _, a in kafka_io.read_json(config, config.kafka.alerts_topic)]
    dead = [d for _, d in kafka_io.read_json(config, config.kafka.dlq_topic)]
    print()
    for alert in sorted(alerts, key=lambda a: (a["image_id"], a["match_id"])):
        print(
            f"DUPLICATE  {Path(alert['image_id']).name:<34} ~ {Path(alert['match_id']).name:<28} "
            f"{alert['hash_type']} distance {alert['distance']}"
        )
    for record in dead:
        print(
            f"DEAD LETTER {Path(record['id'] or '?').name}: {record['reason']} "
            f"({record['message']})"
        )
    origin = {
        variant.resolve(): original.resolve() for variant, original in samples.variants.items()
    }

    def photo(image_id: str) -> Path:
        return origin.get(Path(image_id), Path(image_id))

    true_alerts = sum(photo(a["image_id"]) == photo(a["match_id"]) for a in alerts)
    print(
        json.dumps(
            {
                "images": len(files),
                "alerts": len(alerts),
                "true_alerts": true_alerts,
                "planted_variants": len(samples.variants),
                "dead_letters": len(dead),
                "index": config.index.path,
            }
        )
    )
    print(
        f"\nneardup demo: {len(files)} images streamed, {len(alerts)} duplicate alerts "
        f"({true_alerts} of them true), {len(dead)} dead letter(s); the index is in "
        f"{config.index.path}"
    )
    return 0 if true_alerts else 1


if __name__ == "__main__":
    sys.exit(main())
