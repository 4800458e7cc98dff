"""docs/benchmarks.md is generated from benchmarks/results/*.json: it must be current and carry no commit ids."""

from __future__ import annotations

import json
import re

from benchmarks import report

HASH_LIKE = re.compile(r"\b[0-9a-f]{7,40}\b", re.IGNORECASE)


def test_page_is_current():
    assert report.PAGE.exists(), "docs/benchmarks.md is missing: run python -m benchmarks.report"
    assert report.PAGE.read_text() == report.render(), "docs/benchmarks.md is stale: run python -m benchmarks.report"


def test_page_has_no_commit_hashes():
    found = HASH_LIKE.findall(report.PAGE.read_text())
    assert not found, f"commit-hash-like words in docs/benchmarks.md: {found}"


def test_every_results_file_has_a_section():
    page = report.render()
    for path in report.RESULTS.glob("*.json"):
        assert f"(`{path.name}`)" in page


def test_unknown_file_gets_a_generic_section(tmp_path, monkeypatch):
    (tmp_path / "mystery.json").write_text(json.dumps(
        {"when": "2026-01-01T00:00:00", "rows": 1234567, "seconds": 3.5, "machine": {"cpus": 8}, "nested": [1]}))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    page = report.render()
    assert "## mystery (`mystery.json`)" in page
    assert "| rows | 1,234,567 |" in page and "| seconds | 3.5 |" in page
    assert "Machine: 8 CPU cores." in page
    assert "2026" not in page and "nested" not in page
