"""Sensors, schedules and automation conditions: what keeps the assets up to date without a person."""
