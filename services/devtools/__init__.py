"""What only development and tests need, kept apart from the runtime that production runs:
the embedded Kafka (librdkafka's mock cluster) and PostgreSQL (pgserver), development tokens,
`livskraft dev` and `livskraft demo`. Nothing in `services/runtime/` imports from here."""
