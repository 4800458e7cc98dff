"""The API under uvicorn with one or more workers, their Prometheus metrics summed across them.

    python -m recs_service.serve [--host 127.0.0.1] [--port 8000] [--workers 1] [--metrics-dir DIR]
                                 [--log-level info] [--no-access-log]

Every worker writes its counts to one folder (``PROMETHEUS_MULTIPROC_DIR``; ``--metrics-dir``, else
that variable, else a temporary folder removed at exit), and ``/metrics`` sums them whichever worker
answers. The folder's metric files are deleted at start: a previous run's counts would otherwise add to
this one's. The variable is set here, before any worker imports ``prometheus_client``, which reads it
once at import.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path


def prepare_metrics_dir(path: str | os.PathLike) -> Path:
    """``path`` created if missing, emptied of Prometheus metric files (``*.db``; nothing else is
    touched, so pointing it at a wrong folder deletes no one's data but such files)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"metrics folder {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recs_service.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--metrics-dir", default=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
                        help="where workers keep their metric files (default: a temporary folder)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    made = args.metrics_dir is None
    folder = prepare_metrics_dir(tempfile.mkdtemp(prefix="recs_metrics_") if made else args.metrics_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # inherited by every worker uvicorn starts
    import uvicorn

    try:
        uvicorn.run("recs_service.api:app_from_environment", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level, access_log=not args.no_access_log)
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
