"""The streaming job: Kafka records in, hashed in mapInPandas, matched and registered per
micro-batch, alerts and dead letters out."""
