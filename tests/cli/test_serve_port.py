"""`glasshouse serve` on a taken port says so in one sentence instead of a log line and a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def test_taken_port_is_one_clear_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**os.environ, "GLASSHOUSE_DATA_DIR": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-m", "glasshouse", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "--port" in lines[0] and "GLASSHOUSE_PORT" in lines[0]
