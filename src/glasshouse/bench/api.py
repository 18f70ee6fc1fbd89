"""API benchmark: SearchFacesByImage over boto3 against a live server on loopback, beside the same
search called in-process, on the same probes in the same run. The difference is the protocol's cost
(HTTP, SigV4, JSON, base64, validation). A third figure runs several clients at once (throughput under
concurrent requests, where the engine batches the faces of requests in flight together).

Each figure comes with the CPU it cost (the server process's and the clients', per request) and how busy it
kept the server's cores, so a concurrent figure can be told apart: a server that serialises requests leaves
cores idle, a CPU-bound one is near ``cores / CPU per request``.

Every call goes through the policy gate as a user's call would: enrolment and the in-process searches are
each one guarded call by the access key's actor, exactly what the Rekognition surface does per request.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glasshouse.config import Settings
from glasshouse.engine.hardware import usable_cores
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.services import Services


@dataclass(frozen=True, slots=True)
class Latencies:
    """Per-request seconds; ``wall_s`` is the elapsed time of the whole run (several clients overlap)."""

    name: str
    seconds: list[float]
    clients: int = 1
    wall_s: float | None = None
    #: CPU seconds the serving process (in-process: this one) and the clients spent during the run.
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    #: The machine's busy cores during the run (everything: these processes and any neighbour's).
    machine_cores_busy: float | None = None

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def requests_per_s(self) -> float:
        wall = self.wall_s if self.wall_s is not None else sum(self.seconds)
        return len(self.seconds) / wall if wall else 0.0

    def cpu(self) -> dict[str, float]:
        """CPU per request, the server's busy cores, and the requests/s that the usable cores would allow
        if they did nothing but this (server and clients share them here)."""
        n, out = len(self.seconds), dict[str, float]()
        if self.server_cpu_s is None or not n:
            return out
        out["server_cpu_ms_per_request"] = round(1000 * self.server_cpu_s / n, 2)
        if self.wall_s:
            out["server_cores_busy"] = round(self.server_cpu_s / self.wall_s, 2)
        total = self.server_cpu_s + (self.client_cpu_s or 0.0)
        if self.client_cpu_s is not None:
            out["client_cpu_ms_per_request"] = round(1000 * self.client_cpu_s / n, 2)
        if total > 0:
            out["cpu_bound_requests_per_s"] = round(usable_cores() * n / total, 2)
        if self.machine_cores_busy is not None and self.wall_s:
            out["other_processes_cores_busy"] = round(
                max(0.0, self.machine_cores_busy - total / self.wall_s), 2
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "clients": self.clients,
            "requests": len(self.seconds),
            "p50_ms": round(1000 * self.percentile(0.50), 2),
            "p99_ms": round(1000 * self.percentile(0.99), 2),
            "mean_ms": round(1000 * statistics.fmean(self.seconds), 2),
            "requests_per_s": round(self.requests_per_s, 2),
            **self.cpu(),
        }


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of this process, or of process ``pid`` (from /proc: Linux only; None
    elsewhere or when it is gone)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (/proc/stat; Linux only)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


class _CpuMeter:
    """CPU spent by this process (the clients, or everything in-process), by a server process, and by the
    whole machine (so that neighbours' work shows beside a figure)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.client0 = cpu_seconds()
        self.server0 = cpu_seconds(server_pid) if server_pid is not None else None
        self.machine0 = machine_jiffies()

    def result(self) -> dict[str, Any]:
        """``Latencies`` fields: CPU seconds since start (in-process, all of it is the server's) and the
        machine's busy cores."""
        client = (cpu_seconds() or 0.0) - (self.client0 or 0.0)
        machine, busy = machine_jiffies(), None
        if machine is not None and self.machine0 is not None and machine[1] > self.machine0[1]:
            total_cores = os.cpu_count() or 1  # /proc/stat counts every online CPU
            busy = total_cores * (machine[0] - self.machine0[0]) / (machine[1] - self.machine0[1])
        if self.server_pid is None:
            return {"server_cpu_s": client, "client_cpu_s": None, "machine_cores_busy": busy}
        now = cpu_seconds(self.server_pid)
        server = None if now is None or self.server0 is None else now - self.server0
        return {"server_cpu_s": server, "client_cpu_s": client, "machine_cores_busy": busy}


def _measure(
    name: str,
    probes: Sequence[bytes],
    rounds: int,
    call: Callable[[bytes], Any],
    server_pid: int | None = None,
) -> Latencies:
    call(probes[0])  # warm up (model loading, connection)
    seconds: list[float] = []
    meter = _CpuMeter(server_pid)
    begun = time.perf_counter()
    for _ in range(rounds):
        for probe in probes:
            started = time.perf_counter()
            call(probe)
            seconds.append(time.perf_counter() - started)
    wall = time.perf_counter() - begun
    return Latencies(name, seconds, wall_s=wall, **meter.result())


def _measure_concurrent(
    name: str,
    probes: Sequence[bytes],
    rounds: int,
    clients: int,
    make_call: Callable[[], Callable[[bytes], Any]],
    server_pid: int | None = None,
) -> Latencies:
    """``clients`` threads, each with its own client, share the ``rounds`` passes over the probes."""
    work = [p for _ in range(rounds) for p in probes]
    calls = [make_call() for _ in range(clients)]
    for call in calls:
        call(probes[0])  # connections open, server warm
    seconds: list[float] = []
    lock = threading.Lock()
    next_item = iter(work)

    def client(call: Callable[[bytes], Any]) -> None:
        while True:
            with lock:
                probe = next(next_item, None)
            if probe is None:
                return
            started = time.perf_counter()
            call(probe)
            elapsed = time.perf_counter() - started
            with lock:
                seconds.append(elapsed)

    meter = _CpuMeter(server_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, c) for c in calls]:
            future.result()
    wall = time.perf_counter() - started
    return Latencies(name, seconds, clients=clients, wall_s=wall, **meter.result())


def key_actor(org_id: str, org_name: str, access_key_id: str) -> Actor:
    """The actor the Rekognition surface builds for a request signed with this access key."""
    return Actor(org_id=org_id, org_name=org_name, surface="rekognition-api", key_id=access_key_id)


def run(
    enrol: Sequence[Path],
    probes: Sequence[Path],
    *,
    rounds: int,
    model_cache_dir: Path,
    clients: int = 4,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Latencies, Latencies, Latencies, dict[str, Any]]:
    """(in-process, over the API, over the API with ``clients`` at once) latencies of SearchFacesByImage
    on the same collection and probes, and how the server runs them (its limit on analyses at once, the
    engine's threads and batching; the server reads the thread plans the in-process run measured)."""
    import boto3

    from glasshouse.bench.live_server import live_server

    probe_bytes = [p.read_bytes() for p in probes]
    with tempfile.TemporaryDirectory(prefix="glasshouse-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        # Never the configured database: a benchmark must not enrol into an operator's real collections.
        settings = Settings(data_dir=data_dir, model_cache_dir=model_cache_dir, database_url=None)
        svc = Services(settings)
        try:
            org = svc.org_id("bench")
            key = svc.keys.create(org)
            actor = key_actor(org, "bench", key.access_key_id)
            svc.collections.create(org, "bench")
            progress(f"enrolling {len(enrol)} faces")
            for path in enrol:
                with svc.gate.guard(actor, Capability.FACE_INDEX):
                    svc.collections.index_image(
                        org, "bench", path.read_bytes(), external_image_id=path.stem, max_faces=1
                    )
            progress("in-process search")

            def search(data: bytes) -> Any:
                with svc.gate.guard(actor, Capability.FACE_SEARCH):
                    return svc.collections.search_by_image(org, "bench", data, max_faces=10)

            local = _measure("in-process", probe_bytes, rounds, search)
            slots = svc.analyser.slots
            runtime: dict[str, Any] = {
                "analysis_slots": slots.size if slots is not None else None,
                "engine": svc.face_engine.runtime_summary(),
            }
        finally:
            svc.close()
        progress("API search over loopback")
        with live_server(
            data_dir,
            model_cache_dir,
            database_url=settings.resolved_database_url,
            throttle_rate="0",
            log_level="WARNING",
        ) as server:

            def client() -> Callable[[bytes], Any]:
                rekognition = boto3.client(
                    "rekognition",
                    endpoint_url=server.url,
                    region_name=settings.default_region,  # where the collection was made
                    aws_access_key_id=key.access_key_id,
                    aws_secret_access_key=key.secret,
                )
                return lambda data: rekognition.search_faces_by_image(
                    CollectionId="bench", Image={"Bytes": data}, MaxFaces=10
                )

            pid = server.process.pid
            remote = _measure("API (boto3, loopback)", probe_bytes, rounds, client(), server_pid=pid)
            progress(f"API search over loopback, {clients} clients at once")
            concurrent = _measure_concurrent(
                f"API, {clients} clients at once", probe_bytes, rounds, clients, client, server_pid=pid
            )
    return local, remote, concurrent, runtime
