"""The HTTP API under load while a new version is published: errors and latency before, during and
after the flip, measured with a real load generator (``wrk``) on loopback.

    uv run python -m benchmarks.api_load                     # 300k users, 2 workers, about 1,000 req/s
    uv run python -m benchmarks.api_load --workers 1 --rate 500

Needs ``wrk`` on PATH (Debian/Ubuntu: ``apt-get install wrk``). Steps: a SQLite cache with ``--users``
customers is published (timed); ``uvicorn`` serves it with ``--workers`` processes (``make serve``'s app);
wrk sends requests for random known and unknown customers from ``--connections`` connections, each
pausing so that together they ask for ``--rate`` requests/s (wrk is closed-loop: the rate reached is
reported, not assumed). Phase "before" and "after" last ``--seconds``; phase "during" starts a second
publish of the same size in another process and lasts as long as the first publish took, so the flip
and the clean-up of the old version fall inside it. Writes ``benchmarks/results/api_load.json`` and
prints a table (each run is appended to the file's ``runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}

LUA = """
local ids = {}
init = function(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(os.time() + (tonumber(args[2]) or 0))
end
request = function()
  return wrk.format("GET", "/recommendations/" .. ids[math.random(#ids)])
end
delay = function()
  return %(delay_ms)f
end
"""

PUBLISH = """
import sys, time
from benchmarks.api_load import rows
from recs_service.caches import SQLiteCache
start = time.perf_counter()
SQLiteCache(path=sys.argv[1]).publish(sys.argv[2], rows(int(sys.argv[3]), int(sys.argv[4])), [1, 2, 3], sys.argv[2])
print(time.perf_counter() - start)
"""


def rows(n: int, seed: int):
    """``n`` customers with 12 items and scores each (deterministic)."""
    from recs_service.caches import Recommendation

    for i in range(n):
        yield Recommendation(f"c{i:07d}", [(i * 7 + j * 13 + seed) % 105_000 for j in range(12)],
                             [round(1.0 - j / 12, 6) for j in range(12)])


def publish(path: Path, version: str, n: int, seed: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PUBLISH, str(path), version, str(n), str(seed)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)


def start_api(data: Path, workers: int = 1) -> tuple[str, subprocess.Popen]:
    """``make serve``'s app (uvicorn, ``workers`` processes) over the SQLite cache in ``data`` on a free
    loopback port, once its /health answers: (base URL, server process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RECS_ENV": "local", "RECS_DATA_DIR": str(data)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "recs_service.api:app_from_environment",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                               "--no-access-log", "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return url, server


def parse_wrk(out: str) -> dict:
    """Requests/s, latency percentiles (ms), requests, non-2xx responses and socket errors of wrk's output."""
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * UNITS[unit]

    pct = {f"p{p}_ms": ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), **pct,
            "requests": requests, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0}


def run_wrk(url: str, script: Path, ids: Path, connections: int, seconds: float) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                          "-s", str(script), url, "--", str(ids), "0"], capture_output=True, text=True, check=True)
    return parse_wrk(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1100.0, help="requests/s asked of all connections together"
                        " (each connection pauses 1/rate per connection after a response, so the rate reached is a"
                        " little lower: 1,100 asked gives about 1,000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the before and after phases")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH: install it (Debian/Ubuntu: apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        cache = data / "recommendations.sqlite"
        first = publish(cache, "v1", args.users, 1)
        publish_seconds = float(first.communicate()[0])
        ids = data / "ids.txt"  # 9 known customers for every unknown one (the fallback path)
        ids.write_text("\n".join(f"c{i:07d}" if i % 10 else f"new{i}" for i in range(0, args.users, 7)))
        script = data / "load.lua"
        script.write_text(LUA % {"delay_ms": 1000.0 * args.connections / args.rate})
        url, server = start_api(data, args.workers)
        try:
            run_wrk(url, script, ids, args.connections, 3)  # warm-up, not recorded
            phases = {"before": run_wrk(url, script, ids, args.connections, args.seconds)}
            second = publish(cache, "v2", args.users, 2)
            started = time.perf_counter()
            phases["during"] = run_wrk(url, script, ids, args.connections, max(publish_seconds, 5))
            during_end = time.perf_counter() - started
            second_seconds = float(second.communicate()[0])
            phases["after"] = run_wrk(url, script, ids, args.connections, args.seconds)
            version = httpx.get(url + "/health", timeout=5).json()["version"]
        finally:
            server.terminate()
            server.wait(timeout=30)

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores",
        "users": args.users, "workers": args.workers, "connections": args.connections, "rate_asked": args.rate,
        "first_publish_seconds": round(publish_seconds, 1), "second_publish_seconds": round(second_seconds, 1),
        "second_publish_inside_during_phase": second_seconds <= during_end,
        "version_served_after": version, "phases": phases,
        "notes": "wrk (closed loop, 1 thread) on loopback on the same 2 cores as uvicorn and the publisher.",
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "api_load.json"  # every run is kept: p99 under a publish varies from run to run
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    path.write_text(json.dumps({"runs": runs + [result]}, indent=2) + "\n")
    print(f"{args.users:,} users, {args.workers} workers, {args.connections} connections, {args.rate:g} req/s asked;"
          f" publish {publish_seconds:.1f}s then {second_seconds:.1f}s; serving {version} after")
    print(f"{'phase':8} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, p in phases.items():
        print(f"{name:8} {p['requests_per_second']:8.0f} {p['p50_ms']:8.2f} {p['p90_ms']:8.2f} {p['p99_ms']:8.2f}"
              f" {p['non_2xx'] + p['socket_errors']:7d}")


if __name__ == "__main__":
    main()
