"""Streaming PCM16 resampling with a low-delay polyphase FIR (default) or soxr.

Theory of operation
-------------------
Live audio needs a resampler that is *stateful* (no clicks at chunk edges), *filtered* (OpenAI's 24 kHz
voice has energy up to 12 kHz that must not fold into the 0–4 kHz phone band) and *prompt* (it must not
sit on audio). soxr's stream mode is the first two but holds 40–150 ms back at phone rates and releases it
in bursts; ``audioop.ratecv`` and soxr "QQ" are prompt but unfiltered. The ``"fir"`` engine here is all
three:

* One linear-phase Kaiser-windowed sinc at the intermediate rate ``lcm(in_rate, out_rate)``, designed with
  numpy only (95 dB stopband from 1.25 × the lower Nyquist frequency, flat to 0.85 × it). For 8 kHz it is
  97 taps at 24 kHz: 2.0 ms of group delay, which is the whole delay. Nothing is held back: every input
  sample yields its outputs at once (``ceil(n × out / in)`` outputs after ``n`` inputs).
* Polyphase by matrix: input is cut into blocks of 1 ms aligned to the stream position, and a precomputed
  matrix maps ``history + block`` to the block's outputs, so a whole 20 ms frame is one matrix product
  (``np.dot``, about 2 µs) on a strided view of a reused buffer, with no Python loop over samples.
* A chunk that ends mid-block is computed with zeros for the missing future samples (the filter is causal,
  so the outputs it emits do not depend on them), emitted up to the last input, and kept as pending. The
  next call recomputes that block in full and skips what was already emitted. Blocks never move, so any
  split of the input produces the same bytes as one call.
* ``flush()`` feeds ``delay`` worth of zeros so the last input samples come out; the total output is then
  ``ceil(n × out / in) + delay_samples_out``. ``reset()`` forgets everything (use it on barge-in).

The FIR is evaluated by a small C kernel (``_fir.c``, compiled when the package is installed) where it
was built, and by numpy otherwise (``kernel="numpy"`` chooses numpy). Both give the same bytes for the
same input (each output is one sum over the same products; the tests compare them). The kernel is one call
per chunk where numpy takes a dozen, and between the other work of a hundred calls in one event loop each
numpy call costs microseconds (docs/benchmarks.md). :data:`FIR_KERNEL` says which one a new resampler uses.

The ``"soxr"`` engine wraps ``soxr.ResampleStream`` (float32 inside, so output does not depend on how input
is split; soxr's int16 mode dithers). Its samples are aligned with the input, but it holds output back;
``delay_ms`` reports how much right now. After ``flush()`` its total is ``round(n × out / in)``.
"""

import importlib
import logging
import math
import os
import sys
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Final, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt
import soxr

from rtvoice_codecs.constants import SUPPORTED_RATES

__all__ = [
    "FIR_KERNEL",
    "Engine",
    "FirDesign",
    "FirKernel",
    "SoxrQuality",
    "StreamResampler",
    "default_kernel",
    "fir_design",
    "load_kernel",
]

Engine = Literal["fir", "soxr"]
SoxrQuality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]
FirKernel = Literal["c", "numpy"]


_NOT_BUILT: Final = (
    "the resampler's C kernel was not built when rtvoice-gateway was installed "
    "(it needs a C compiler and the Python headers)"
)


def load_kernel(name: str = "rtvoice_codecs._fir") -> ModuleType | None:
    """The compiled FIR kernel, or None where it was not built (or on a big-endian host: it writes
    little-endian samples itself)."""
    if sys.byteorder != "little":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def default_kernel(built: bool, setting: str | None) -> FirKernel:
    """The FIR kernel new resamplers use: ``setting`` (the ``RTVOICE_FIR_KERNEL`` environment variable)
    when given, else the C kernel where it was built.

    Raises:
        ValueError: For a setting other than ``c`` or ``numpy``, or ``c`` where the kernel was not built.
    """
    if setting is None or setting == "":
        return "c" if built else "numpy"
    if setting not in get_args(FirKernel):
        raise ValueError(f"RTVOICE_FIR_KERNEL must be 'c' or 'numpy', not {setting!r}")
    if setting == "c" and not built:
        raise ValueError(f"RTVOICE_FIR_KERNEL=c, but {_NOT_BUILT}")
    return "c" if setting == "c" else "numpy"


def _kernel_from_environment(built: bool) -> FirKernel:
    """The default kernel, as ``RTVOICE_FIR_KERNEL`` asks; a setting it cannot follow is logged (one
    warning) and the usual default is used: a process is never stopped at import by an environment
    variable."""
    try:
        return default_kernel(built, os.environ.get("RTVOICE_FIR_KERNEL"))
    except ValueError as exc:
        logging.getLogger(__name__).warning("%s; using the default (%s)", exc, default_kernel(built, None))
        return default_kernel(built, None)


_KERNEL: Final = load_kernel()
FIR_KERNEL: Final[FirKernel] = _kernel_from_environment(_KERNEL is not None)
"""The kernel that evaluates the FIR engine by default: ``"c"`` where the C kernel was built at install (a
C compiler was there), ``"numpy"`` otherwise; the environment variable ``RTVOICE_FIR_KERNEL`` (``c`` or
``numpy``) overrides it (another value, or ``c`` where the kernel was not built, is logged as a warning
and ignored)."""

_F64 = npt.NDArray[np.float64]

# Design targets, relative to the lower of the two Nyquist frequencies. 0.85 keeps the phone band
# (300–3400 Hz at 8 kHz) flat; 1.25 puts the first fully attenuated frequency at 5 kHz for 8 kHz, so
# everything that would fold back onto 0–3 kHz is removed. 95 dB is below the PCM16 noise floor.
_PASS_FRACTION: Final = 0.85
_STOP_FRACTION: Final = 1.25
_ATTENUATION_DB: Final = 95.0
_BLOCK_MS: Final = 1

# 0-d arrays rather than Python floats: ufuncs skip converting the scalar on every call (~0.3 µs).
_PCM16_MIN: Final = np.array(-32768.0)
_PCM16_MAX: Final = np.array(32767.0)


def _clip_two_ufuncs(
    y: npt.NDArray[np.floating], low: _F64, high: _F64, out: npt.NDArray[np.floating]
) -> npt.NDArray[np.floating]:
    np.minimum(y, high, out=out)
    np.maximum(out, low, out=out)
    return out


# numpy's clip ufunc, called directly: np.clip() spends about 2 µs in Python-level argument handling
# before it reaches it, twice what the clipping of a 20 ms frame costs (the resampler's hot path). It
# lives in numpy's private namespace (np._core.umath in numpy 2); where it is missing, the same result
# comes from minimum and maximum (tests check both give the same samples).
_umath = getattr(getattr(np, "_core", None), "umath", None)
_clip: Final = getattr(_umath, "clip", None) or _clip_two_ufuncs


@dataclass(frozen=True, eq=False)
class FirDesign:
    """A polyphase FIR resampler design for one rate pair (see :func:`fir_design`).

    Attributes:
        in_rate: Input sample rate in Hz.
        out_rate: Output sample rate in Hz.
        up: Interpolation factor L (``out_rate / gcd``).
        down: Decimation factor M (``in_rate / gcd``).
        taps: The prototype low-pass at ``in_rate * up`` Hz, DC gain ``up``.
        delay: Group delay in samples at ``in_rate * up``; divisible by ``up`` and ``down``.
        passband_hz: Edge of the flat passband.
        stopband_hz: Start of the stopband.
        block: Input samples per block (1 ms, a multiple of ``down``).
        history: Input samples before a block that its outputs depend on.
        matrix: ``(history + block, block * up // down)``: block outputs = window @ matrix.
        phases: The taps split into ``up`` phases of ``taps_per_phase``, each reversed, as float64 bytes
            (the C kernel's table: ``phases[r, s] = taps[r + (taps_per_phase - 1 - s) * up]``).
        taps_per_phase: Taps in each phase (the prototype padded with zeros to ``up`` × this).
    """

    in_rate: int
    out_rate: int
    up: int
    down: int
    taps: _F64
    delay: int
    passband_hz: float
    stopband_hz: float
    block: int
    history: int
    matrix: _F64
    phases: bytes
    taps_per_phase: int

    @property
    def delay_ms(self) -> float:
        """Group delay in milliseconds: how far every output sample lags its input."""
        return 1000.0 * self.delay / (self.in_rate * self.up)

    @property
    def delay_in(self) -> int:
        """Group delay in input samples."""
        return self.delay // self.up

    @property
    def delay_out(self) -> int:
        """Group delay in output samples."""
        return self.delay // self.down

    @property
    def block_out(self) -> int:
        """Output samples per input block."""
        return self.block * self.up // self.down


@cache
def fir_design(in_rate: int, out_rate: int) -> FirDesign:
    """Design (once per rate pair, then cached) the polyphase FIR for ``in_rate`` → ``out_rate``.

    Args:
        in_rate: Input rate, one of ``SUPPORTED_RATES``.
        out_rate: Output rate, one of ``SUPPORTED_RATES``, different from ``in_rate``.

    Returns:
        The design, including the block matrix the stream resampler multiplies by.

    Raises:
        ValueError: For an unsupported or identical pair of rates.
    """
    if in_rate not in SUPPORTED_RATES or out_rate not in SUPPORTED_RATES or in_rate == out_rate:
        raise ValueError(
            f"the FIR resampler converts between two different rates of {SUPPORTED_RATES}, "
            f"got {in_rate} -> {out_rate}"
        )
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    fs = in_rate * up
    nyquist = min(in_rate, out_rate) / 2
    passband, stopband = _PASS_FRACTION * nyquist, _STOP_FRACTION * nyquist
    # Kaiser's formulas: length for the attenuation over the transition width, and the window shape.
    width = 2 * math.pi * (stopband - passband) / fs
    order = math.ceil((_ATTENUATION_DB - 7.95) / (2.285 * width))
    # An order divisible by 2·L·M makes the delay a whole number of input *and* output samples, so
    # flush() can emit exactly the delayed tail and the measured lag is an integer.
    step = 2 * up * down
    order = -(-order // step) * step
    delay = order // 2
    beta = 0.1102 * (_ATTENUATION_DB - 8.7)
    cutoff = (passband + stopband) / 2 / fs
    n = np.arange(order + 1, dtype=np.float64) - delay
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(order + 1, beta)
    # DC gain L: zero-stuffing by L divides the signal level by L.
    taps *= up / taps.sum()

    block = max(down, in_rate // 1000 * _BLOCK_MS)
    block = -(-block // down) * down
    history = -(-order // up)
    block_out = block * up // down
    # matrix[i, j]: weight of window sample i (input index block_start - history + i) in output j of the
    # block (intermediate index block_start·L + j·M), i.e. taps[j·M + (history - i)·L].
    i = np.arange(history + block)[:, None]
    j = np.arange(block_out)[None, :]
    idx = j * down + (history - i) * up
    valid = (idx >= 0) & (idx <= order)
    matrix = np.where(valid, taps[np.clip(idx, 0, order)], 0.0)
    per_phase = -(-(order + 1) // up)
    padded = np.zeros(per_phase * up)
    padded[: order + 1] = taps
    phases = padded.reshape(per_phase, up).T[:, ::-1]  # phases[r, s] = taps[r + (per_phase - 1 - s) * up]
    return FirDesign(
        in_rate=in_rate,
        out_rate=out_rate,
        up=up,
        down=down,
        taps=taps,
        delay=delay,
        passband_hz=passband,
        stopband_hz=stopband,
        block=block,
        history=history,
        matrix=np.ascontiguousarray(matrix),
        phases=np.ascontiguousarray(phases, dtype="<f8").tobytes(),
        taps_per_phase=per_phase,
    )


def _to_pcm16(y: npt.NDArray[np.floating]) -> bytes:
    """Round and saturate float samples (in PCM16 units) to PCM16 little-endian bytes; modifies ``y``."""
    np.rint(y, out=y)
    _clip(y, _PCM16_MIN, _PCM16_MAX, out=y)
    return y.astype("<i2").tobytes()


class _Engine(Protocol):
    def process(self, pcm: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def reset(self) -> None: ...
    @property
    def delay_ms(self) -> float: ...


class _PassThrough:
    def process(self, pcm: bytes) -> bytes:
        return bytes(pcm)

    def flush(self) -> bytes:
        return b""

    def reset(self) -> None:
        pass

    @property
    def delay_ms(self) -> float:
        return 0.0


class _FirStream:
    __slots__ = ("_d", "_done", "_fed", "_flat", "_out", "_pending", "_windows", "_work")

    # The work buffer and the block views over it are kept between calls (the hot path feeds the same
    # frame size every 20 ms), but only up to this many blocks, so one huge chunk does not pin memory.
    _MAX_CACHED_BLOCKS: Final = 64

    def __init__(self, design: FirDesign) -> None:
        self._d = design
        # work = history | pending | new input | zeros up to the next block boundary. The zeros stand in
        # for the future of a partial last block; causal taps never reach them for the outputs we emit.
        self._work: _F64 = np.zeros(design.history + self._MAX_CACHED_BLOCKS * design.block)
        self._pending = 0  # input samples of the partial block, stored after the history
        self._done = 0  # outputs of the partial block already emitted
        self._fed = False  # any input since the last reset, i.e. does flush() owe a tail?
        self._windows: _F64 | None = None
        self._out: _F64 | None = None
        self._flat: _F64 | None = None  # self._out as one row

    @property
    def delay_ms(self) -> float:
        return self._d.delay_ms

    def reset(self) -> None:
        self._work[: self._d.history] = 0.0
        self._pending = 0
        self._done = 0
        self._fed = False

    def process(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        self._fed = True
        return _to_pcm16(self._run(np.frombuffer(pcm, "<i2")))

    def flush(self) -> bytes:
        if not self._fed:
            return b""
        tail = _to_pcm16(self._run(np.zeros(self._d.delay_in)))
        self.reset()
        return tail

    def _run(self, x: npt.NDArray[np.int16] | _F64) -> _F64:
        d = self._d
        block, history = d.block, d.history
        start = history + self._pending
        n = self._pending + x.shape[0]
        nblocks = -(-n // block)
        size = history + nblocks * block
        work = self._work
        windows, out, flat = self._windows, self._out, self._flat
        if nblocks > self._MAX_CACHED_BLOCKS:
            work = np.empty(size)
            work[:start] = self._work[:start]
            windows = out = flat = None
        elif windows is None or windows.shape[0] != nblocks:
            windows = out = flat = None
        work[start : history + n] = x
        if size > history + n:  # (a whole number of blocks, the usual 20 ms frame, needs no zeros)
            work[history + n : size] = 0.0
        if windows is None or out is None or flat is None:
            # Overlapping rows: row b is work[b·block : b·block + history + block].
            windows = np.ndarray((nblocks, history + block), np.float64, buffer=work, strides=(block * 8, 8))
            out = np.empty((nblocks, d.block_out))
            flat = out.reshape(-1)
            if work is self._work:
                self._windows, self._out, self._flat = windows, out, flat
        # np.dot copies the overlapping rows into a BLAS-able block itself, faster than matmul does here.
        np.dot(windows, d.matrix, out=out)
        available = (d.up * n + d.down - 1) // d.down
        y = flat[self._done : available]
        # Slide the next call's history and pending samples to the front of the persistent buffer.
        full = n // block
        keep = history + n - full * block
        self._work[:keep] = work[full * block : full * block + keep]
        self._pending = n - full * block
        self._done = available - full * d.block_out
        return y


class _FirKernelStream:
    """The FIR engine on the C kernel: same design, same outputs, one call per chunk."""

    __slots__ = ("_d", "_fed", "_kernel", "_state")

    def __init__(self, design: FirDesign, kernel: ModuleType) -> None:
        self._d = design
        self._kernel = kernel
        # Inputs so far, outputs so far (two int64), then the last taps_per_phase - 1 inputs (float64).
        self._state = bytearray(16 + 8 * (design.taps_per_phase - 1))
        self._fed = False

    @property
    def delay_ms(self) -> float:
        return self._d.delay_ms

    def reset(self) -> None:
        self._state[:] = bytes(len(self._state))
        self._fed = False

    def process(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        self._fed = True
        d = self._d
        out: bytes = self._kernel.process(d.phases, d.up, d.down, self._state, pcm)
        return out

    def flush(self) -> bytes:
        if not self._fed:
            return b""
        d = self._d
        tail: bytes = self._kernel.process(d.phases, d.up, d.down, self._state, bytes(2 * d.delay_in))
        self.reset()
        return tail


class _SoxrStream:
    __slots__ = ("_out_rate", "_stream")

    _EMPTY: Final = np.zeros(0, dtype=np.float32)

    def __init__(self, in_rate: int, out_rate: int, quality: SoxrQuality) -> None:
        # float32 rather than int16: soxr dithers int16 output, which makes the bytes depend on how the
        # input was split. Rounding and saturation are ours (_to_pcm16).
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality)
        self._out_rate = out_rate

    @property
    def delay_ms(self) -> float:
        return 1000.0 * float(self._stream.delay()) / self._out_rate

    def reset(self) -> None:
        self._stream.clear()

    def process(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        x = np.frombuffer(pcm, "<i2").astype(np.float32)
        y: npt.NDArray[np.float32] = self._stream.resample_chunk(x)
        return _to_pcm16(y) if y.shape[0] else b""

    def flush(self) -> bytes:
        y: npt.NDArray[np.float32] = self._stream.resample_chunk(self._EMPTY, last=True)
        self._stream.clear()
        return _to_pcm16(y) if y.shape[0] else b""


class StreamResampler:
    """Stateful PCM16 (mono, little-endian) resampler for live audio.

    Feed chunks of any length (a single sample, odd sample counts, nothing at all) with :meth:`process`;
    the output is continuous across chunk boundaries and the same whatever the split. :meth:`flush` ends
    the stream and returns the tail; :meth:`reset` drops it (barge-in).

    Example:
        >>> up = StreamResampler(8000, 24000)
        >>> len(up.process(bytes(320)))  # one 20 ms frame at 8 kHz -> 20 ms at 24 kHz
        960
        >>> up.delay_ms
        2.0
    """

    __slots__ = ("_engine", "_impl", "_in_rate", "_kernel", "_out_rate", "_quality")

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        *,
        engine: Engine = "fir",
        quality: SoxrQuality | None = None,
        kernel: FirKernel | None = None,
    ) -> None:
        """Create a resampler.

        Args:
            in_rate: Input sample rate in Hz.
            out_rate: Output sample rate in Hz. Equal to ``in_rate`` gives a pass-through.
            engine: ``"fir"`` (default): low-delay polyphase FIR between any two of ``SUPPORTED_RATES``.
                ``"soxr"``: ``soxr.ResampleStream``, any positive integer rates, holds output back.
            quality: soxr quality (``"QQ"``, ``"LQ"``, ``"MQ"``, ``"HQ"``, ``"VHQ"``; default ``"HQ"``).
                Only for ``engine="soxr"``.
            kernel: What evaluates the FIR engine: ``"c"`` (the compiled kernel), ``"numpy"``, or None
                (default): :data:`FIR_KERNEL`, the C kernel where it was built. Both give the same bytes.

        Raises:
            ValueError: For an unknown engine, quality or kernel, a quality given to the FIR engine, a
                kernel given to soxr, ``kernel="c"`` where the C kernel was not built, a rate that is not a
                positive integer, or a rate pair the engine does not support.
        """
        if engine not in get_args(Engine):
            raise ValueError(f"engine must be one of {get_args(Engine)}, got {engine!r}")
        for name, rate in (("in_rate", in_rate), ("out_rate", out_rate)):
            if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
                raise ValueError(f"{name} must be a positive integer number of Hz, got {rate!r}")
        if engine == "fir" and quality is not None:
            raise ValueError("quality applies to engine='soxr' only; the FIR engine has one design")
        if kernel is not None and kernel not in get_args(FirKernel):
            raise ValueError(f"kernel must be one of {get_args(FirKernel)} or None, got {kernel!r}")
        if engine == "soxr" and kernel is not None:
            raise ValueError("kernel applies to engine='fir' only")
        if kernel == "c" and _KERNEL is None:
            raise ValueError(f"kernel='c', but {_NOT_BUILT}; use kernel='numpy'")
        if engine == "soxr":
            quality = "HQ" if quality is None else quality
            if quality not in get_args(SoxrQuality):
                raise ValueError(f"soxr quality must be one of {get_args(SoxrQuality)}, got {quality!r}")
        self._in_rate = in_rate
        self._out_rate = out_rate
        self._engine: Engine = engine
        self._quality = quality
        self._kernel: FirKernel | None = None
        self._impl: _Engine
        if in_rate == out_rate:
            self._impl = _PassThrough()
        elif engine == "fir":
            design = fir_design(in_rate, out_rate)
            self._kernel = FIR_KERNEL if kernel is None else kernel
            if self._kernel == "c" and _KERNEL is not None:
                self._impl = _FirKernelStream(design, _KERNEL)
            else:
                self._impl = _FirStream(design)
        else:
            assert quality is not None
            self._impl = _SoxrStream(in_rate, out_rate, quality)

    @property
    def in_rate(self) -> int:
        """Input sample rate in Hz."""
        return self._in_rate

    @property
    def out_rate(self) -> int:
        """Output sample rate in Hz."""
        return self._out_rate

    @property
    def engine(self) -> Engine:
        """``"fir"`` or ``"soxr"``."""
        return self._engine

    @property
    def quality(self) -> SoxrQuality | None:
        """The soxr quality, or ``None`` for the FIR engine."""
        return self._quality

    @property
    def kernel(self) -> FirKernel | None:
        """What evaluates the FIR engine (``"c"`` or ``"numpy"``); None for soxr and the pass-through."""
        return self._kernel

    @property
    def delay_ms(self) -> float:
        """Delay this resampler adds, in milliseconds.

        FIR: the fixed group delay (every output sample lags its input by this much; nothing is held
        back). soxr: output currently held back inside soxr (samples are aligned, but arrive late; it
        changes from call to call). Pass-through: 0.
        """
        return self._impl.delay_ms

    def process(self, pcm: bytes) -> bytes:
        """Resample the next chunk of the stream.

        Args:
            pcm: PCM16 little-endian mono samples; any whole number of them, including none.

        Returns:
            The output samples that are ready (FIR: all of them, ``ceil(total_in × out / in)`` so far).

        Raises:
            ValueError: If ``pcm`` has an odd number of bytes.
        """
        if len(pcm) & 1:
            raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")
        return self._impl.process(pcm)

    def flush(self) -> bytes:
        """End the stream: return the audio still inside the filter and start afresh.

        Returns:
            The tail (FIR: ``delay`` worth of output samples, or nothing if nothing was fed).
        """
        return self._impl.flush()

    def reset(self) -> None:
        """Drop all state, including audio not yet returned; the next sample starts a new stream."""
        self._impl.reset()
