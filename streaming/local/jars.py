"""What the JVM side needs from `make setup`: the jars it resolved from the Maven manifests in
conf/jvm/, and a Java it can run them with. Either missing ends the command with SETUP_INCOMPLETE
before a JVM starts."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from streaming.config import PROJECT_ROOT
from streaming.errors import ExitCode, NeardupError

JARS_DIR = Path(os.environ.get("NEARDUP_JARS_DIR", PROJECT_ROOT / ".cache" / "jars"))
MANIFESTS = PROJECT_ROOT / "conf" / "jvm"
# Spark 4 and the Kafka 4 broker are built for Java 17.
MIN_JAVA = 17
_POM = "{http://maven.apache.org/POM/4.0.0}"


def jars(group: str) -> list[Path]:
    """The jars of one manifest: "spark" (Kafka connector, Delta, S3A), "kafka" (the broker) or
    "s3" (the S3 server), with a jar for every dependency the manifest names."""
    folder = JARS_DIR / group
    found = sorted(folder.glob("*.jar"))
    missing = [a for a in manifest_artifacts(group) if not any(folder.glob(f"{a}-*.jar"))]
    if missing:
        what = "no jars" if not found else f"no {missing[0]} jar"
        raise NeardupError(
            f"{what} in {folder} (conf/jvm/{group}/pom.xml)\nrun `make setup`",
            ExitCode.SETUP_INCOMPLETE,
        )
    return found


def manifest_artifacts(group: str) -> list[str]:
    """The artifactIds of the direct dependencies of conf/jvm/<group>/pom.xml."""
    project = ET.parse(MANIFESTS / group / "pom.xml").getroot()
    return [
        artifact.text or ""
        for artifact in project.iterfind(f"{_POM}dependencies/{_POM}dependency/{_POM}artifactId")
    ]


@functools.cache
def java() -> str:
    """The java that Spark and the broker run with (JAVA_HOME's, else the first on PATH), once it
    is known to be MIN_JAVA or later."""
    home = os.environ.get("JAVA_HOME")
    binary = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if binary is None or not os.access(binary, os.X_OK):
        where = f"JAVA_HOME ({home})" if home else "PATH (JAVA_HOME is not set)"
        raise NeardupError(
            f"no java in {where}; Spark and the Kafka broker need Java {MIN_JAVA} or later\n"
            "install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME to it",
            ExitCode.SETUP_INCOMPLETE,
        )
    banner = subprocess.run([binary, "-version"], capture_output=True, text=True).stderr
    version = java_version(banner)
    if version is None or version < MIN_JAVA:
        raise NeardupError(
            f"{binary} is Java {version or 'of an unknown version'}; Spark and the Kafka broker "
            f"need Java {MIN_JAVA} or later\n"
            f"install Java {MIN_JAVA} or later, or set JAVA_HOME to one",
            ExitCode.SETUP_INCOMPLETE,
        )
    return binary


def java_version(banner: str) -> int | None:
    """The major version in the banner of `java -version`: 'openjdk version "17.0.15"' is 17,
    'java version "1.8.0_292"' (before Java 9) is 8."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if found is None:
        return None
    major, minor = found.groups()
    return int(minor) if major == "1" and minor else int(major)
