"""``make dev``: ``dagster dev`` that stops cleanly on SIGTERM and SIGINT, also when started by a script.

A script that backgrounds ``make dev`` starts it with SIGINT ignored (the shell does that to background
jobs), and a SIGTERM sent to ``make`` reaches only its direct child. So ``dagster dev`` runs in a
session of its own with SIGINT restored, and either signal here is passed to that whole session
(webserver, daemon, code servers), which is killed if it has not stopped after a grace period.

    python -m recs_assets.dev -w workspace.yaml -p 3000
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 60


def _restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", *argv], start_new_session=True,
                            preexec_fn=_restore_sigint)
    stopping: list[int] = []

    def stop(signum, _frame) -> None:
        if not stopping:
            stopping.append(signum)
            print(f"\nstopping dagster dev ({signal.Signals(signum).name})…", flush=True)
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = proc.wait()
    deadline = time.monotonic() + GRACE_SECONDS
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # its children end after it
        time.sleep(0.2)
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    return 0 if stopping else code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
