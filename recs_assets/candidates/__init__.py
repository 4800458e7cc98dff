"""Candidate generation: cheap sources (history, co-purchase, popularity, two-tower retrieval) that
each propose articles per customer as of a cut-off day, and their union with per-source recall."""
