"""API benchmark: SearchFacesByImage over boto3 against a live server on loopback, beside the same
search called in-process, on the same probes in the same run. The difference is the protocol's cost
(HTTP, SigV4, JSON, base64, validation)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glasshouse.config import Settings
from glasshouse.services import Services


@dataclass(frozen=True, slots=True)
class Latencies:
    name: str
    seconds: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def to_json(self) -> dict[str, Any]:
        total = sum(self.seconds)
        return {
            "name": self.name,
            "requests": len(self.seconds),
            "p50_ms": round(1000 * self.percentile(0.50), 2),
            "p99_ms": round(1000 * self.percentile(0.99), 2),
            "mean_ms": round(1000 * statistics.fmean(self.seconds), 2),
            "requests_per_s": round(len(self.seconds) / total, 2) if total else 0.0,
        }


def _measure(name: str, probes: Sequence[bytes], rounds: int, call: Callable[[bytes], Any]) -> Latencies:
    call(probes[0])  # warm up (model loading, connection)
    seconds: list[float] = []
    for _ in range(rounds):
        for probe in probes:
            started = time.perf_counter()
            call(probe)
            seconds.append(time.perf_counter() - started)
    return Latencies(name, seconds)


def run(
    enrol: Sequence[Path],
    probes: Sequence[Path],
    *,
    rounds: int,
    model_cache_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Latencies, Latencies]:
    """(in-process, over the API) latencies of SearchFacesByImage on the same collection and probes."""
    import boto3

    from glasshouse.bench.live_server import live_server

    probe_bytes = [p.read_bytes() for p in probes]
    with tempfile.TemporaryDirectory(prefix="glasshouse-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        svc = Services(Settings(data_dir=data_dir, model_cache_dir=model_cache_dir))
        org = svc.org_id("bench")
        key = svc.keys.create(org)
        svc.collections.create(org, "bench")
        progress(f"enrolling {len(enrol)} faces")
        for path in enrol:
            svc.collections.index_image(
                org, "bench", path.read_bytes(), external_image_id=path.stem, max_faces=1
            )
        progress("in-process search")
        local = _measure(
            "in-process",
            probe_bytes,
            rounds,
            lambda data: svc.collections.search_by_image(org, "bench", data, max_faces=10),
        )
        svc.close()
        progress("API search over loopback")
        with live_server(data_dir, model_cache_dir, throttle_rate="0", log_level="WARNING") as server:
            client = boto3.client(
                "rekognition",
                endpoint_url=server.url,
                region_name=svc.settings.default_region,  # where the collection above was made
                aws_access_key_id=key.access_key_id,
                aws_secret_access_key=key.secret,
            )
            remote = _measure(
                "API (boto3, loopback)",
                probe_bytes,
                rounds,
                lambda data: client.search_faces_by_image(
                    CollectionId="bench", Image={"Bytes": data}, MaxFaces=10
                ),
            )
    return local, remote
