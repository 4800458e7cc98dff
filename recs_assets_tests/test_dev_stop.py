"""``make dev`` started the way a script starts it (in the background, SIGINT ignored) stops on SIGTERM
sent to ``make`` and on SIGINT sent to its process group, leaving no webserver, daemon or code server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from recs_assets_tests.helpers import plain_shell_env

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (this test's data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _backgrounded() -> None:  # what a shell does to a background job: SIGINT ignored
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("how", ["SIGTERM to make", "SIGINT to its process group"])
def test_make_dev_stops_when_a_script_signals_it(tmp_path, how):
    port, data = _free_port(), tmp_path / "data"
    env = plain_shell_env({**os.environ, "RECS_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")})
    log = open(tmp_path / "dev.log", "w")
    make = subprocess.Popen(["make", "dev", f"DEV_PORT={port}"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=_backgrounded)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert make.poll() is None and time.monotonic() < deadline, (tmp_path / "dev.log").read_text()[-3000:]
                time.sleep(1)
        assert len(_ours(str(data))) >= 3  # make, the launcher, dagster dev and its servers
        if how.startswith("SIGTERM"):
            make.send_signal(signal.SIGTERM)
        else:
            os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=180)
        deadline = time.monotonic() + 60
        while _ours(str(data)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _ours(str(data)) == [], (tmp_path / "dev.log").read_text()[-3000:]
    finally:
        for pid in _ours(str(data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
