"""The indicators service: the facts of record about results (docs/indicators.md)."""
