"""The W&B Report comparing the two-tower partitions (``wandb-workspaces``): the partitions' runs table,
the validation metric per partition, and the metric against each hyperparameter.

Online, ``best_model`` saves it to W&B and links its URL. Offline (the local default) nothing can be
saved: the report's specification and its full definition go to ``<tracker dir>/reports/<name>.json``
next to the offline runs, and once online ``python -m recs_assets.training.report <that file>``
saves the same report (after ``wandb sync`` has uploaded the runs).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportSpec:
    """Everything the report shows; plain values, so it can be written down offline."""

    project: str
    entity: str  # "" offline, or online to use the API key's default entity
    features: str  # the feature workflow key the compared runs were trained on (a run config value)
    metric: str  # the validation metric that chooses
    params: tuple[str, ...]  # hyperparameter names (run config keys)
    best: str
    reason: str


def build_report(spec: ReportSpec, online: bool = False):
    """The ``wandb_workspaces`` Report for ``spec`` (building it needs no network; saving does)."""
    import wandb_workspaces.reports.v2 as wr

    # online without an entity: the API key's default one (looked up over the network)
    where = {} if online and not spec.entity else {"entity": spec.entity}
    runs = wr.Runset(**where, project=spec.project, name="two-tower partitions",
                     filters=f"Config('features') == '{spec.features}'")
    metric = wr.SummaryMetric(spec.metric)
    panels = [
        wr.BarPlot(title=f"{spec.metric} by partition", metrics=[metric]),
        wr.ParallelCoordinatesPlot(
            title="hyperparameters → metric",
            columns=[wr.ParallelCoordinatesPlotColumn(metric=wr.Config(p)) for p in spec.params]
            + [wr.ParallelCoordinatesPlotColumn(metric=metric)]),
        *[wr.ScatterPlot(title=f"{spec.metric} vs {p}", x=wr.Config(p), y=metric) for p in spec.params],
        wr.RunComparer(diff_only="split"),
    ]
    return wr.Report(
        **where, project=spec.project, title=f"Two-tower partitions: {spec.metric}",
        description=f"Partitions trained on {spec.features}; best {spec.best}.",
        blocks=[
            wr.H1("Which hyperparameters won, and why"),
            wr.P(f"Best partition: {spec.best} ({spec.reason}). Chosen on validation {spec.metric}."),
            wr.PanelGrid(runsets=[runs], panels=panels),
        ],
    )


def definition(report) -> dict:
    """The report as plain JSON: each block and panel named by its type, with its fields."""
    from pydantic import TypeAdapter

    def named(obj) -> dict:
        out = {"type": type(obj).__name__, **TypeAdapter(type(obj)).dump_python(obj, mode="json")}
        if hasattr(obj, "panels"):
            out["panels"] = [named(p) for p in obj.panels]
        return out

    return {"title": report.title, "description": report.description, "project": report.project,
            "entity": report.entity, "blocks": [named(b) for b in report.blocks]}


def save_report(spec: ReportSpec, online: bool, offline_dir: str | Path) -> str:
    """Online: save to W&B and return the URL. Offline: write the spec and definition, return the path."""
    report = build_report(spec, online)
    if online:
        report.save()
        return report.url
    path = Path(offline_dir) / "reports" / f"{spec.project}-{spec.features.replace('/', '_')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"spec": dataclasses.asdict(spec), "definition": definition(report)}, indent=2))
    return str(path)


if __name__ == "__main__":  # save an offline report once online: python -m recs_assets.training.report <file>
    saved = json.loads(Path(sys.argv[1]).read_text())["spec"]
    print(save_report(ReportSpec(**{**saved, "params": tuple(saved["params"])}), online=True, offline_dir="."))
