"""The benchmarks page: every ``benchmarks/results/*.json`` as one plain markdown page.

    python -m benchmarks.report          # writes docs/benchmarks.md

The machine is stated once at the top (from the files' ``machine``/``cpus``/``cores`` fields), then one
section per result file: a short table of its key figures beside the command that produces them (taken
from the benchmark module's docstring). Dates, logs, free-text notes, commit ids and earlier runs kept for
comparison are left out. A file this module does not know gets a generic section of its top-level
figures. ``render()`` returns the page, so a test can check that the committed page is current.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parent / "docs" / "benchmarks.md"
ORDER = ["end_to_end", "ranking", "ranking_one_partition", "raw_marts", "training", "training_optimizers",
         "training_folder", "train_window", "serving", "api_load", "backtest"]
DROPPED = {"when", "date", "log", "how", "notes", "code", "previous_run", "benchmark"}
LABELS = {"served": "ranked list", "two_tower": "two-tower alone"}


def fmt(value, digits: int = 1) -> str:
    """A figure as text: integers with thousands separators, floats to ``digits`` decimals."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: ""}[value]
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(head: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]


def command(stem: str) -> str | None:
    """The command that writes ``<stem>.json``, from the docstrings of benchmarks/*.py: a command line naming
    the file, else the first command of the module whose docstring names it. Without ``uv run`` and comments."""
    fallback = None
    for module in sorted(HERE.glob("*.py")):
        doc = ast.get_docstring(ast.parse(module.read_text())) or ""
        lines = [re.sub(r"^(uv run )?|\s+(#|\().*$", "", line.strip()) for line in doc.splitlines()
                 if "python -m benchmarks." in line]
        names_it = re.compile(rf"(?<![\w.]){re.escape(stem)}\.json")
        for line in lines:
            if names_it.search(line):
                return line
        if lines and names_it.search(doc) and fallback is None:
            fallback = lines[0]
    return fallback


def code(text: str | None) -> str:
    return f"`{text}`" if text else "(no benchmarks/*.py names this file)"


def machine(files: dict[str, object]) -> str:
    """The machine as the files describe it, e.g. "2 CPU cores, 23.5 GB of memory, Python 3.11.7"."""
    seen: dict[str, set] = {"cpus": set(), "memory": set(), "python": set(), "gpus": set()}

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("cpus", "cores") and isinstance(value, int):
                seen["cpus"].add(value)
            elif key == "memory_gb" and isinstance(value, (int, float)):
                seen["memory"].add(value)
            elif key == "python" and isinstance(value, str):
                seen["python"].add(value)
            elif key in ("gpu", "gpus") and isinstance(value, (int, str)):
                seen["gpus"].add(value)
            elif key == "machine" and isinstance(value, str) and (m := re.match(r"(\d+) cores?\b", value)):
                seen["cpus"].add(int(m.group(1)))
            elif key not in DROPPED and not key.startswith("previous"):
                walk(value)

    walk(list(files.values()))
    both = lambda values: " or ".join(fmt(v) for v in sorted(values, key=str))  # noqa: E731
    parts = [f"{both(seen['cpus'])} CPU cores" if seen["cpus"] else "",
             f"{both(seen['memory'])} GB of memory" if seen["memory"] else "",
             ("no GPU" if seen["gpus"] == {0} else f"GPU: {both(seen['gpus'])}") if seen["gpus"] else "",
             f"Python {both(seen['python'])}" if seen["python"] else ""]
    return ", ".join(p for p in parts if p) or "not recorded in the result files"


def generic(data) -> list[str]:
    """Any file: its top-level scalar figures."""
    scalars = [[key, value] for key, value in (data.items() if isinstance(data, dict) else [])
               if key not in DROPPED and not isinstance(value, (dict, list))]
    return table(["field", "value"], scalars) if scalars else ["(no top-level figures)"]


def scale(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def end_to_end(data: dict, cmd: str) -> list[str]:
    """Per scale: the whole graph's wall time and peak memory, the test-week quality, and every step."""
    runs = sorted((r for r in data.values() if isinstance(r, dict) and "steps" in r), key=lambda r: r["scale"])
    base = re.sub(r"\s*--scale \S+", "", cmd)

    def served(run):
        step = next((s for s in run["steps"] if s["step"] == "recommendations"), {})
        return step.get("assets", {}).get("recommendations", {}).get("users")

    summary = [[scale(r["scale"]), fmt(r.get("transactions")), fmt(served(r)), fmt(r["wall_seconds"] / 60),
                fmt(r["peak_rss_mb"] / 1024), f"`{base} --scale {scale(r['scale'])}`"] for r in runs]
    quality = []
    for r in runs:
        q = r.get("quality", {})
        best = q.get("strongest_baseline_map_at_12")
        ratio = q["served_map_at_12"] / best if best and "served_map_at_12" in q else None
        quality.append([scale(r["scale"]), fmt(q.get("test_buyers")), fmt(q.get("served_map_at_12"), 4),
                        f"{fmt(best, 4)} ({q.get('strongest_baseline', '')})", fmt(ratio, 3),
                        fmt(q.get("two_tower_map_at_12"), 4), q.get("gate", "")])
    names = list(dict.fromkeys(s["step"] for r in runs for s in r["steps"]))
    steps = [[f"`{name}`", *[next((f"{fmt(s['seconds'], 0)} / {fmt(s['peak_rss_mb'] / 1024)}"
                                   for s in r["steps"] if s["step"] == name), "") for r in runs]] for name in names]
    return [*table(["scale", "purchases", "customers served", "whole graph, min", "peak RSS, GB", "command"],
                   summary), "",
            "Test week, every test-week buyer, MAP@12:", "",
            *table(["scale", "buyers", "ranked list", "strongest baseline", "ratio", "two-tower alone", "gate"],
                   quality), "",
            "Each step: wall seconds / peak RSS of the process tree in GB (an upper bound: a step shares its run's "
            "process with the steps before it, and partitions trained side by side share theirs).", "",
            *table(["step", *[f"scale {scale(r['scale'])}" for r in runs]], steps)]


def ranking(data: dict, cmd: str | None) -> list[str]:
    """Per data set: every list's test MAP@12, the gate's verdict, candidate recall and the chosen ranker."""
    results = data["results"]
    sources = [r["source"] for r in results]
    lists = list(dict.fromkeys(name for r in results for name in r["lists_every_test_buyer"]))

    def row(label, value):
        return [label, *[value(r) for r in results]]

    def interval(r):
        low_high = r["gate"].get("lift_interval")
        return f"{low_high[0]:.3f}–{low_high[1]:.3f}" if low_high else ""

    rows = [row(f"MAP@12: {LABELS.get(n, n)}", lambda r, n=n: fmt(r["lists_every_test_buyer"].get(n, {})
                                                                 .get("map_at_k"), 4)) for n in lists]
    rows += [row("ranked list ÷ strongest baseline", lambda r: f"{fmt(r['gate'].get('lift'), 3)} "
                 f"({r['gate'].get('strongest_baseline', '')})"),
             row("95 % interval of that ratio", interval),
             row("promotion gate", lambda r: "passed" if r["gate"].get("passed") else "failed"),
             row("published list", lambda r: str((r.get("served") or {}).get("list") or "")),
             row("candidate recall (test week, union)",
                 lambda r: fmt((r.get("candidates") or {}).get("test", {}).get("union"), 3)),
             row("ranker chosen", lambda r: str((r.get("ranker") or {}).get("kind", ""))),
             row("test-week buyers", lambda r: fmt(r.get("test_buyers")))]
    rows = [r for r in rows if any(cell for cell in r[1:])]
    how = (f"Command: `{cmd} --sources {' '.join(sources)}`." if cmd
           else f"Command: {code(cmd)}. How it was made: {data.get('how', 'not recorded')}.")
    return [how, "", *table(["", *sources], rows)]


def raw_marts(data: dict, cmd: str) -> list[str]:
    """Per scale: rows generated, then seconds / peak MB of generation, the raw load and the dbt build."""
    by_scale: dict[float, dict] = {}
    for r in data["results"]:
        by_scale.setdefault(r["scale"], {})[r["stage"]] = r
    cell = lambda r: f"{fmt(r['seconds'])} / {fmt(r['peak_mb'], 0)}" if r else ""  # noqa: E731
    rows = [[scale(s), fmt(st.get("generate", st.get("load", {})).get("rows")),
             *[cell(st.get(stage)) for stage in ("generate", "load", "dbt")]] for s, st in sorted(by_scale.items())]
    small = " ".join(scale(s) for s in sorted(by_scale) if s < 1)
    run = re.sub(r"\s*--(scales|full)\b[^-]*", "", cmd) + (f" --scales {small}" if small else "")
    run += " --full" if any(s >= 1 for s in by_scale) else ""
    return [f"Command: `{run}`. Seconds / peak MB of each stage in its own process.", "",
            *table(["scale", "rows (3 tables)", "generate", "load", "dbt build"], rows)]


def training(data: dict, cmd: str) -> list[str]:
    """Per configuration: two-tower fit time, throughput, validation recall@12 and peak memory."""
    rows = []
    for r in data["results"]:
        where = scale(r["scale"]) if isinstance(r["scale"], (int, float)) else f"data folder `{r['scale']}`"
        what = r.get("config") or f"batch {r.get('batch_size')}, {r.get('epochs')} epochs"
        what += f", {r['optimizer']}" if r.get("optimizer") else ""
        rows.append([where, what, fmt(r.get("train_rows")), fmt(r.get("fit_seconds")),
                     fmt(r.get("examples_per_second")), fmt(r.get("recall_at_12"), 4), fmt(r.get("peak_rss_mb"))])
    folder = any(not isinstance(r["scale"], (int, float)) for r in data["results"])
    return [f"Command: `{cmd}`. Validation recall@12 over every item seen in training."
            + (" The data folder is one `python -m benchmarks.end_to_end` left (`/tmp/recs-e2e-<scale>`)." if folder
               else ""), "",
            *table(["scale", "configuration", "train rows", "fit s", "examples/s", "recall@12", "peak RSS, MB"],
                   rows)]


def train_window(data: dict, cmd: str) -> list[str]:
    """Per scale and window: train rows, fit time and validation recall@12 over every validation buyer."""
    base = re.sub(r"\s*--(scale|weeks|epochs)\b[\d. ]*", "", cmd)
    rows, commands = [], []
    for key in sorted(data, key=float):
        results = data[key]["results"]
        weeks = " ".join("0" if r["train_weeks"] == "all" else str(r["train_weeks"]) for r in results)
        commands.append(f"`{base} --scale {key} --weeks {weeks} --epochs {results[0]['epochs']}`")
        rows += [[key, f"{r['train_weeks']} weeks" if r["train_weeks"] != "all" else "all history",
                  fmt(r["train_rows"]), fmt(r["epochs"]), fmt(r["fit_seconds"]),
                  fmt(r["recall_at_12_every_buyer"], 3)] for r in results]
    return [f"Commands: {', '.join(commands)}. Customers absent from the window count as misses.", "",
            *table(["scale", "window", "train rows", "epochs", "fit s", "recall@12, every buyer"], rows)]


def serving(data: dict, cmd: str) -> list[str]:
    """Top-k throughput per method, publish throughput per cache, API latency on loopback."""
    of = lambda kind: [r for r in data["results"] if r.get("bench") == kind]  # noqa: E731
    topk = [[fmt(r["items"]), r["method"], fmt(r["users"]), fmt(r["users_per_second"]),
             fmt(r.get("agreement_with_ours", 1.0) * 100, 4) + " %" if "agreement_with_ours" in r else "(ours)"]
            for r in of("topk")]
    publish = [[r["backend"], fmt(r["rows"]), fmt(r["rows_per_second"])] for r in of("publish")]
    api = [[fmt(r["target_rate"], 0), fmt(r["achieved_rate"], 0), fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
            fmt(r["errors"])] for r in of("api")]
    return [f"Command: `{cmd}`. Top-12 over random 64-dimensional embeddings:", "",
            *table(["items", "method", "users", "users/s", "same lists as ours"], topk), "",
            *table(["publish to", "rows", "rows/s"], publish), "",
            *table(["requests/s asked", "reached", "p50 ms", "p99 ms", "errors"], api)]


def api_load(data: dict, cmd: str) -> list[str]:
    """Per run: requests/s and p50 / p99 latency before, during and after a publish, and the errors."""
    runs = [r for r in data["runs"] if not str(r.get("code", "")).startswith("previous")]
    phase = lambda p: f"{fmt(p['requests_per_second'], 0)} req/s, {p['p50_ms']:.1f} / {p['p99_ms']:.1f} ms"  # noqa
    rows = [[fmt(r["workers"]), fmt(r["users"]), *[phase(r["phases"][p]) for p in ("before", "during", "after")],
             fmt(sum(p["non_2xx"] + p["socket_errors"] for p in r["phases"].values()))] for r in runs]
    rates = " or ".join(sorted({fmt(r.get("rate_asked"), 0) for r in runs}))
    return [f"Command: `{cmd} --workers N`. `wrk` on loopback asks {rates} requests/s of uvicorn over the SQLite "
            "cache before, during and after another process publishes a new version; latency p50 / p99.", "",
            *table(["workers", "users in the cache", "before", "during the publish", "after", "errors"], rows)]


def backtest(data: dict, cmd: str) -> list[str]:
    """Per scale: one week's backtest as Dagster runs it, and the process's peak memory."""
    rows = [[scale(r["scale"]), fmt(r["customers_with_lists"]), fmt(r["buyers"]), fmt(r["backtest_seconds"]),
             fmt(r["peak_rss_gb"], 2)] for r in data["runs"]]
    return [f"Command: `{cmd}`. `live_list_backtest` for one week over a warehouse of the synthetic purchases at that"
            " scale and a version with a list (and a baseline's) for every customer.", "",
            *table(["scale", "customers with a list", "buyers that week", "seconds", "peak RSS GB"], rows)]


SECTIONS = {
    "end_to_end": ("The whole graph, end to end", end_to_end),
    "ranking": ("Quality: the ranked list against the baselines", ranking),
    "ranking_one_partition": ("Quality with one two-tower partition", ranking),
    "raw_marts": ("Raw data and dbt marts", raw_marts),
    "training": ("Two-tower training", training),
    "training_optimizers": ("Two-tower training: Adam and lazy Adam", training),
    "training_folder": ("Two-tower training on an end-to-end run's data", training),
    "train_window": ("How much history the two-tower learns from", train_window),
    "serving": ("Serving: top-k, publish, API latency", serving),
    "api_load": ("The API under load during a publish", api_load),
    "backtest": ("Monitoring: one week's backtest of the live list", backtest),
}


def render() -> str:
    """The whole page, from every results file (known layouts first, in ORDER; others after, by name)."""
    files = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    stems = [s for s in ORDER if s in files] + sorted(s for s in files if s not in ORDER)
    out = ["# Benchmarks", "",
           "Generated by `python -m benchmarks.report` from `benchmarks/results/*.json`; do not edit by hand.",
           "", f"Machine: {machine(files)}.", "",
           "Run the commands from the repository root in the project's environment (`uv run python -m …`);",
           "`make bench`, `make bench-e2e SCALE=…` and `make bench-api` run the usual ones.", ""]
    for stem in stems:
        title, renderer = SECTIONS.get(stem, (stem.replace("_", " "), None))
        out += [f"## {title} (`{stem}.json`)", ""]
        try:
            body = renderer(files[stem], command(stem)) if renderer else None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            body = None
        if body is None:
            body = [f"Command: {code(command(stem))}. Layout not known to this report: top-level fields.", "",
                    *generic(files[stem])]
        out += body + [""]
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render())
    print(f"written: {PAGE}")


if __name__ == "__main__":
    main()
