"""What machine a benchmark ran on, and how much memory the process holds.

Latency numbers mean little without the CPU, core count, runtime version and how busy the machine
was, so every bench report starts with this header (load average at the start and the end).
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class HostInfo:
    cpu: str
    cores: int
    machine: str  # e.g. x86_64, aarch64
    system: str  # e.g. Linux-6.1-...
    python: str
    litert_version: str


def host_info() -> HostInfo:
    return HostInfo(cpu=cpu_model(), cores=os.cpu_count() or 1, machine=platform.machine(),
                    system=platform.platform(terse=True), python=platform.python_version(),
                    litert_version=package_version("ai-edge-litert"))


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (x86 'model name', ARM 'Hardware'/'Model'), else platform's."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> tuple[float, float, float] | None:
    """1/5/15-minute load average; None where the OS has none (Windows)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    try:
        import resource  # POSIX only
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
