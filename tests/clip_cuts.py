"""Short cuts of the shared real clip, made by stream copy (no re-encoding), so tests redact little."""

from __future__ import annotations

from pathlib import Path

import av


def cut(source: Path, out: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``source``'s video (and audio) written to ``out``, packets copied."""
    with av.open(str(source)) as src, av.open(str(out), mode="w") as dst:
        mapping = {}
        for stream in src.streams:
            if stream.type in ("video", "audio"):
                mapping[stream.index] = dst.add_stream_from_template(stream)
        start: dict[int, float] = {}
        for packet in src.demux():
            if packet.stream.index not in mapping or packet.dts is None or packet.pts is None:
                continue
            assert packet.time_base is not None
            t = float(packet.pts * packet.time_base)
            first = start.setdefault(packet.stream.index, t)
            if t - first > seconds:
                continue
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)
    return out
