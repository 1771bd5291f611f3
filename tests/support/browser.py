"""Headless Debian ``chromium`` for browser tests: Selenium driven from a worker thread of its own, so the
test's event loop (which serves the gateway) never blocks on the browser; and a stdlib PNG check.

No browser or driver is downloaded: Selenium gets ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
explicitly (so Selenium Manager never runs) and the driver runs with ``SE_OFFLINE``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import wave
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from support.timing import seconds

__all__ = [
    "CHROMIUM",
    "CHROMEDRIVER",
    "ARTIFACTS",
    "Browser",
    "chromium_missing",
    "eventually",
    "png_pixels",
    "write_wav",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Screenshots of browser tests (ignored by git; CI keeps them as artefacts).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

T = TypeVar("T")


def chromium_missing() -> str | None:
    """Why browser tests cannot run here (None: they can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: apt-get install chromium chromium-driver (scripts/test does)"
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is missing (it speaks the fake microphone's words)"
    return None


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """16-bit mono PCM as a WAV file (what chromium's fake microphone plays)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


class Browser:
    """One headless chromium; every Selenium call runs on its own single worker thread."""

    def __init__(self, *, microphone: Path | None = None, size: tuple[int, int] = (1200, 860)) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="selenium")
        self._microphone = microphone
        self._size = size
        self.driver: Any = None

    async def __aenter__(self) -> Browser:
        await self.call(self._start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.driver is not None:
                await self.call(self.driver.quit)
        finally:
            self._pool.shutdown(wait=True)

    def _start(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--window-size={self._size[0]},{self._size[1]}",
        ):
            options.add_argument(flag)
        if self._microphone is not None:
            options.add_argument(f"--use-file-for-fake-audio-capture={self._microphone}")
        # An explicit driver path skips Selenium Manager (no download); SE_OFFLINE keeps it off the network
        # should anything still call it.
        service = Service(executable_path=str(CHROMEDRIVER), env={**os.environ, "SE_OFFLINE": "true"})
        self.driver = webdriver.Chrome(options=options, service=service)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the browser's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(*args))

    async def js(self, script: str, *args: Any) -> Any:
        """``execute_script`` on the current window."""
        return await self.call(self.driver.execute_script, script, *args)

    async def get(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def text(self, css: str) -> str:
        """The text of the elements matching ``css``, joined by newlines ("" when none)."""
        found = await self.js(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent).join('\\n')", css
        )
        return str(found)

    async def screenshot(self, path: Path) -> bytes:
        """Save a PNG of the current window to ``path`` and return it."""

        def take() -> bytes:
            png: bytes = self.driver.get_screenshot_as_png()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            return png

        png = await self.call(take)
        return png


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll the async ``check`` every 100 ms until it holds (fails after ``timeout_s``, scaled)."""
    try:
        async with asyncio.timeout(seconds(timeout_s)):
            while not await check():  # noqa: ASYNC110 - the browser's state
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def png_pixels(png: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what chromium's screenshots are) to a
    ``(height, width, channels)`` array; only zlib and struct (and numpy for the arithmetic)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, idat, header = 8, bytearray(), None
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        at += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, color, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color}, interlace {interlace}")
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            out = line.copy()
        elif kind == 1:  # Sub: a running sum per channel
            out = (
                (np.cumsum(line.reshape(width, channels).astype(np.int64), axis=0) % 256)
                .astype(np.uint8)
                .ravel()
            )
        elif kind == 2:  # Up
            out = line + prior
        elif kind in (3, 4):  # Average, Paeth: byte by byte
            out = _unfilter_slow(int(kind), line, prior, channels)
        else:
            raise ValueError(f"unknown PNG filter {kind}")
        image[y], prior = out, out
    return image.reshape(height, width, channels)


def _unfilter_slow(
    kind: int, line: np.ndarray[Any, np.dtype[np.uint8]], prior: np.ndarray[Any, np.dtype[np.uint8]], bpp: int
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    out = bytearray(len(line))
    up = prior.tolist()
    for i, value in enumerate(line.tolist()):
        left = out[i - bpp] if i >= bpp else 0
        if kind == 3:
            out[i] = (value + (left + up[i]) // 2) & 0xFF
        else:
            corner = up[i - bpp] if i >= bpp else 0
            p = left + up[i] - corner
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
            out[i] = (value + predictor) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)
