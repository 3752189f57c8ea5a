"""Where `make setup` put the JVM jars resolved from the Maven manifests in conf/jvm/."""

from __future__ import annotations

import os
from pathlib import Path

from streaming.config import PROJECT_ROOT

JARS_DIR = Path(os.environ.get("NEARDUP_JARS_DIR", PROJECT_ROOT / ".cache" / "jars"))


class MissingJarsError(RuntimeError):
    pass


def jars(group: str) -> list[Path]:
    """The jars of one manifest: "spark" (Kafka connector, Delta) or "kafka" (the broker)."""
    found = sorted((JARS_DIR / group).glob("*.jar"))
    if not found:
        raise MissingJarsError(
            f"no jars in {JARS_DIR / group}: run `make setup` (it resolves "
            f"conf/jvm/{group}/pom.xml)"
        )
    return found
