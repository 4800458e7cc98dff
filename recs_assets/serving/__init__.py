"""Serving: top-k for every user, the recommendation cache (SQLite locally, DynamoDB in production),
atomic publishing, and the HTTP API / Lambda handler that read it."""
