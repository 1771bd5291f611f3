"""Build hook: compiles the FIR resampler's C kernel (``codecs/rtvoice_codecs/_fir.c``) next to its source.

The kernel is optional. Where it cannot be built (no C compiler, no Python headers, Windows), the build
prints one warning and goes on; ``rtvoice_codecs`` then resamples with numpy, which gives the same bytes
(see docs/codecs.md). The module uses the stable ABI, so one ``_fir.abi3.so`` serves every Python from
3.11 on. It is written into the source tree, which is what an editable install imports, and a wheel
takes it from there.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # scripts/bench_agent.py --baseline imports compile_kernel() outside a build
    BuildHookInterface = object

SOURCE = Path("codecs/rtvoice_codecs/_fir.c")
TARGET = SOURCE.with_name("_fir.abi3.so")


def compile_kernel(root: Path, *, defines: tuple[str, ...] = ()) -> str | None:
    """Compile the kernel; return None, or why it could not be built.

    ``defines``: C macros to set (``FIR_NO_CLONES`` builds the baseline loop only; the tests compare it).
    """
    if sys.platform == "win32":
        return "no build recipe for Windows"
    ldshared = sysconfig.get_config_var("LDSHARED")
    if not ldshared:
        return "this Python does not say how to link extensions (sysconfig LDSHARED)"
    command = [
        *shlex.split(ldshared),
        *shlex.split(sysconfig.get_config_var("CFLAGS") or ""),
        *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
        "-O3",
        "-ffp-contract=off",  # never fuse a multiply and an add: the numpy engine rounds each (same bytes)
        "-I",
        sysconfig.get_paths()["include"],
        *(f"-D{name}" for name in defines),
        str(root / SOURCE),
    ]
    target = root / TARGET
    # Compile to a temporary name, then rename: two installs at once (3.11 and 3.13) never see half a file.
    try:
        fd, partial = tempfile.mkstemp(prefix="_fir.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write next to {SOURCE}: {exc}"
    try:
        result = subprocess.run([*command, "-o", partial], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return f"{shlex.join(command)} failed: {result.stderr.strip()[-2000:]}"
        os.replace(partial, target)
    except OSError as exc:
        return f"{shlex.join(command)}: {exc}"
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return None


class CustomBuildHook(BuildHookInterface):
    """Builds the kernel for wheels (editable ones included)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        problem = compile_kernel(Path(self.root))
        if problem is not None:
            print(
                f"warning: the resampler's C kernel was not built ({problem}); "
                "rtvoice_codecs will resample with numpy (same output, more CPU)",
                file=sys.stderr,
            )
            return
        if version != "editable":
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            build_data["artifacts"].append(str(TARGET))
