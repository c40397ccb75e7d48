"""The plan cycle of a municipality in a network: status, goals, measures, evaluation, reports."""
