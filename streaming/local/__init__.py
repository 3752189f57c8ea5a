"""The embedded runtime for development, the demo and CI: JVM jars, a KRaft broker, a Spark
session."""
