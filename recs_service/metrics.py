"""Service metrics: Prometheus for the HTTP API, CloudWatch Embedded Metric Format lines for Lambda.

Both record the same facts about each request: its route template (never a customer id, so the label
set stays bounded), its status, its latency, whether the answer was the fallback list (an unknown
customer), whether the list was incomplete (``k`` above what the cache stores) and whether the cache
was unavailable. The live version is read from the cache when metrics are collected (at each
Prometheus scrape; from the answer itself in Lambda), so a new publish never leaves the old version's
series behind in any worker.

Prometheus, in one process or several uvicorn workers: with ``PROMETHEUS_MULTIPROC_DIR`` set before
``prometheus_client`` is imported (``python -m recs_service.serve`` does it, and empties the folder at
start), every worker writes its counts to that folder and ``/metrics``, whichever worker answers it,
sums them. Without it, counts live in the answering process (one worker).

``prometheus_client`` is imported only by ``PrometheusMetrics``: the Lambda handler needs the standard
library only.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from recs_service.caches import CacheUnavailable, RecommendationCache
from recs_service.service import RecommendationResponse, served_list

UNMATCHED = "unmatched"  # the route label of a request no route matched (its path is never a label)
NAMESPACE = "recs_assets/service"  # CloudWatch namespace of the Lambda's metrics
# latency buckets (seconds): a SQLite answer takes well under a millisecond, a DynamoDB one a few
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class RequestFacts:
    """What one request came to, as both exporters record it."""

    route: str
    status: int
    seconds: float
    fallback: bool = False
    incomplete: bool = False
    cache_unavailable: bool = False
    # what was served: the version (when the request read it), the model version, its list, its publish time
    served: dict = field(default_factory=dict)

    def answered(self, response: RecommendationResponse) -> None:
        self.fallback, self.incomplete = response.fallback, not response.complete
        self.served = {"model_version": response.model_version, "list": served_list(response.model_version),
                       "published_at": response.published_at}


class LiveVersionCollector:
    """The cache's live version, read at each scrape: ``recs_live_version_info`` (labels version,
    model_version, list; value 1), ``recs_live_version_published_timestamp_seconds`` and
    ``recs_cache_up`` (0 when the cache cannot be read; the version series are then absent)."""

    def __init__(self, cache: RecommendationCache):
        self.cache = cache

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("recs_cache_up", "1 when the recommendation cache answered this scrape, else 0")
        info = GaugeMetricFamily("recs_live_version_info", "The version the cache serves (value 1)",
                                 labels=["version", "model_version", "list"])
        published = GaugeMetricFamily("recs_live_version_published_timestamp_seconds",
                                      "When the live version was published (Unix time)")
        try:
            version = self.cache.current_version()
            current = self.cache.fallback() if version else None
        except CacheUnavailable:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        if current is None:  # nothing published yet
            return [up]
        info.add_metric([version, current["model_version"], served_list(current["model_version"])], 1)
        published.add_metric([], float(current["created_at"]))
        return [up, info, published]


class PrometheusMetrics:
    """The API's Prometheus metrics. ``multiprocess_dir``: default ``PROMETHEUS_MULTIPROC_DIR``."""

    def __init__(self, cache: RecommendationCache, multiprocess_dir: str | None = None):
        from prometheus_client import CollectorRegistry, Counter, Histogram, values

        self.dir = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if self.dir:
            if not os.path.isdir(self.dir):
                raise ValueError(f"PROMETHEUS_MULTIPROC_DIR={self.dir!r} is not a directory")
            if values.ValueClass is values.MutexValue:
                # prometheus_client picks in-memory or file-backed values once, at its import
                raise RuntimeError("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: "
                                   "set it before the process starts (python -m recs_service.serve does)")
        self.live = LiveVersionCollector(cache)
        # multiprocess: values go to the folder and each scrape reads them into a fresh registry;
        # otherwise one registry per app (several apps in one process never clash)
        self.registry = None if self.dir else CollectorRegistry()
        if self.registry is not None:
            self.registry.register(self.live)
        made = {"registry": self.registry}
        self.requests = Counter("recs_requests", "Requests answered, by route template and status",
                                ["route", "status"], **made)
        self.latency = Histogram("recs_request_duration_seconds", "Time to answer a request, by route template",
                                 ["route"], buckets=LATENCY_BUCKETS, **made)
        self.fallbacks = Counter("recs_fallback_answers", "Recommendations answered with the fallback list "
                                 "(customers the cache does not hold)", **made)
        self.incomplete = Counter("recs_incomplete_lists", "Recommendations shorter than the k asked for "
                                  "(k above what the cache stores)", **made)
        self.unavailable = Counter("recs_cache_unavailable", "Requests answered 503 because the cache "
                                   "could not be read", **made)

    def record(self, facts: RequestFacts) -> None:
        self.requests.labels(facts.route, str(facts.status)).inc()
        self.latency.labels(facts.route).observe(facts.seconds)
        if facts.fallback:
            self.fallbacks.inc()
        if facts.incomplete:
            self.incomplete.inc()
        if facts.cache_unavailable:
            self.unavailable.inc()

    def exposition(self) -> tuple[bytes, str]:
        """(the text format of every metric, its content type) for ``GET /metrics``."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = self.registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.dir)
            registry.register(self.live)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def emf_record(facts: RequestFacts, now: float | None = None) -> dict:
    """``facts`` as one CloudWatch Embedded Metric Format record: metrics by route and status, what
    was served as plain properties (searchable in Logs Insights, not dimensions: no metric per version)."""
    metrics = {"requests": (1, "Count"), "latency": (facts.seconds * 1000, "Milliseconds"),
               "fallback_answers": (int(facts.fallback), "Count"), "incomplete_lists": (int(facts.incomplete), "Count"),
               "cache_unavailable": (int(facts.cache_unavailable), "Count")}
    return {
        "_aws": {"Timestamp": int((time.time() if now is None else now) * 1000), "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [["route", "status"]],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]},
        "route": facts.route, "status": str(facts.status),
        **{name: value for name, (value, _) in metrics.items()},
        **{key: value for key, value in facts.served.items() if value is not None},
    }


def emf_line(facts: RequestFacts) -> str:
    return json.dumps(emf_record(facts), separators=(",", ":"))
