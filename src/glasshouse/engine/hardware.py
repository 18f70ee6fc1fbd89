"""What the CPU offers the runtimes: model, usable cores and the vector extensions int8 kernels use."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Flags reported (``/proc/cpuinfo`` names). VNNI (AVX-512 or AVX) is what makes int8 convolutions fast.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True, slots=True)
class CpuInfo:
    model: str
    cores: int  # usable by this process (affinity), not the machine's total
    flags: tuple[str, ...]

    @property
    def has_vnni(self) -> bool:
        return "avx512_vnni" in self.flags or "avx_vnni" in self.flags

    @property
    def key(self) -> str:
        """Identifies a kind of machine for cached measurements: CPU model, core count, ISA."""
        raw = f"{self.model}-{self.cores}c-{'vnni' if self.has_vnni else 'novnni'}"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)

    def describe(self) -> str:
        return f"{self.model}, {self.cores} cores, {' '.join(self.flags) or 'no AVX2'}"


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@cache
def cpu_info() -> CpuInfo:
    model, flags = platform.processor() or "unknown", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and model in ("unknown", platform.processor()):
                model = value.strip()
            elif name.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return CpuInfo(model, usable_cores(), tuple(f for f in FLAGS_OF_INTEREST if f in flags))
