"""Open a page in headless chromium, check what loaded, and take a screenshot.

Chromium is driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe``
(messages are JSON, each ended by a NUL byte; the browser reads fd 3 and writes fd 4),
so no port and no websocket library are needed. Protocol reference: the methods
``Target.createTarget``/``attachToTarget`` (flat sessions), ``Page.navigate``,
``Runtime.evaluate``, ``Page.captureScreenshot`` and the events ``Log.entryAdded``,
``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown`` of
https://chromedevtools.github.io/devtools-protocol/ (tip of tree).

Chromium on Debian: ``apt-get install chromium`` (``.ci/setup.d/30-chromium.sh``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextevent.records import NextEventError

STAGE = "report"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe")
"""Flags for a headless chromium with no network of its own (no updates, sync, QUIC)."""
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

PAGE_JS = """
(async () => {
  const posters = [...document.querySelectorAll('video[poster]')].map(v => {
    const image = new Image();
    image.src = v.poster;
    return image;
  });
  await Promise.all([...document.images, ...posters].map(i => i.decode().catch(() => null)));
  return {
    title: document.title,
    sections: [...document.querySelectorAll('header[id], section[id]')].map(s => ({
      id: s.id, heading: (s.querySelector('h1, h2') || {}).textContent || ''})),
    images: [...document.images].map(i => ({
      src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth,
      naturalHeight: i.naturalHeight, inSheet: !!i.closest('#contact-sheets')})),
    links: [...document.querySelectorAll('link[href^="http"], script[src]')]
      .map(e => e.getAttribute('href') || e.getAttribute('src')),
  };
})()
"""
"""Waits for every image and video poster to decode (or fail), then lists sections, images
and any link to the web."""

SETTLE_JS = "new Promise(done => setTimeout(() => requestAnimationFrame(done), 1500))"
"""Before a screenshot: chromium's video controls draw a loading ring for about a second
after the page loads (measured: gone after 1 s on chromium 156), then a frame is drawn."""

MEDIA_JS = """
(async (timeoutMs, play) => {
  const videos = [...document.querySelectorAll('video')];
  const within = work => Promise.race([work, new Promise(done => setTimeout(done, timeoutMs))]);
  await within(Promise.all(videos.map(v => new Promise(done => {
    if (v.readyState >= 1 || v.error) return done();
    v.addEventListener('loadedmetadata', done, {once: true});
    v.addEventListener('error', done, {once: true});
    v.preload = 'metadata';
    v.load();
  }))));
  if (play) {
    await within(Promise.all(videos.filter(v => !v.error).map(v => new Promise(done => {
      v.addEventListener('ended', done, {once: true});
      v.addEventListener('error', done, {once: true});
      v.muted = true;
      v.playbackRate = 4;
      v.play().catch(done);
    }))));
  }
  return videos.map(v => {
    const quality = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    return {src: v.getAttribute('src'), readyState: v.readyState,
      duration: isFinite(v.duration) ? v.duration : null, error: v.error ? v.error.code : null,
      ended: v.ended, currentTime: v.currentTime,
      frames: quality ? quality.totalVideoFrames : null};
  });
})
"""
"""Makes every ``<video>`` (``preload="none"`` on the page) load its metadata, waits for
all of them (or the timeout, in ms) and lists their states; with ``play`` it then plays
them all (muted, 4x) to their end or an error (MediaError code 3: a decode error)."""


@dataclass
class PageCheck:
    """What a page showed in headless chromium.

    Attributes:
        url: the page's URL.
        title: ``document.title``.
        sections: ``{"id", "heading"}`` of every ``header[id]`` and ``section[id]``.
        images: ``{"src", "complete", "naturalWidth", "naturalHeight", "inSheet"}`` per
            ``<img>``; ``naturalWidth`` 0 means the image did not load.
        videos: ``{"src", "readyState", "duration", "error", "ended", "currentTime",
            "frames"}`` per ``<video>``; a ``readyState`` of 1 or more means its metadata
            loaded; ``ended`` and ``frames`` (frames the player decoded) tell, when the
            check played the videos, that each played to its end.
        external: ``<link>`` URLs to the web and ``<script src>`` of the page (should be none).
        console_errors: console errors, uncaught exceptions and failed loads, as text.
        screenshot: the PNG written, if one was asked for.
        size: the full page size in CSS pixels ``(width, height)``.
    """

    url: str
    title: str = ""
    sections: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    size: tuple[int, int] = (0, 0)

    @property
    def section_ids(self) -> list[str]:
        """Ids of the page's sections, in page order."""
        return [s["id"] for s in self.sections]

    @property
    def broken_images(self) -> list[str]:
        """``src`` of every image that did not load (``naturalWidth`` 0)."""
        return [i["src"] for i in self.images if not i["naturalWidth"]]

    @property
    def broken_videos(self) -> list[str]:
        """``src`` of every video whose metadata did not load."""
        return [v["src"] for v in self.videos if v["error"] is not None or v["readyState"] < 1]

    @property
    def problems(self) -> list[str]:
        """Broken images and videos, external resources and console errors, as lines."""
        return ([f"broken image: {s}" for s in self.broken_images]
                + [f"broken video: {s}" for s in self.broken_videos]
                + [f"external resource: {s}" for s in self.external]
                + [f"console: {e}" for e in self.console_errors])


def find_chromium(explicit: str | None = None) -> str:
    """The chromium executable: ``explicit``, else ``$NEXTEVENT_CHROMIUM``, else the first
    of `CANDIDATES` on ``PATH``.

    Raises:
        NextEventError: stage ``report`` when none is found.
    """
    for name in (explicit, os.environ.get("NEXTEVENT_CHROMIUM"), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    raise NextEventError(STAGE, "no chromium executable found (tried "
                         f"{', '.join(CANDIDATES)} and $NEXTEVENT_CHROMIUM)",
                         "install it (Debian: apt-get install chromium, see "
                         ".ci/setup.d/30-chromium.sh) or set NEXTEVENT_CHROMIUM")


class _Pipe:
    """A DevTools session over chromium's debugging pipe, with a deadline on every wait."""

    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int,
                 deadline: float) -> None:
        self.proc, self.write_fd, self.deadline = proc, write_fd, deadline
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.next_id = 0
        threading.Thread(target=self._read, args=(read_fd,), daemon=True).start()

    def _read(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self.inbox.put(json.loads(message))
        self.inbox.put(None)  # the browser closed the pipe

    def _next(self, waiting_for: str) -> dict[str, Any]:
        left = self.deadline - time.monotonic()
        try:
            message = self.inbox.get(timeout=max(0.0, left))
        except queue.Empty:
            raise TimeoutError(f"chromium did not answer in time (waiting for {waiting_for})"
                               ) from None
        if message is None:
            raise RuntimeError(f"chromium exited (code {self.proc.poll()}) while waiting for "
                               f"{waiting_for}")
        return message

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result; events met meanwhile are kept."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as err:
            raise RuntimeError(f"chromium exited (code {self.proc.poll()}) before {method}"
                               ) from err
        while True:
            reply = self._next(method)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method} failed: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event (kept events first)."""
        for event in self.events:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        while True:
            message = self._next(method)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method and message.get("sessionId") == session:
                    return message


PIPE_TRAMPOLINE = ('exec "$@" 3<&"$NE_TO_BROWSER" 4>&"$NE_FROM_BROWSER" {NE_TO_BROWSER}<&-'
                   ' {NE_FROM_BROWSER}>&-')
"""bash puts the pipe ends on fds 3 and 4, then becomes chromium (``exec``): no Python code
runs between fork and exec, unlike ``preexec_fn``, which can deadlock in a threaded
process."""


def _high_fd(fd: int) -> int:
    """Move ``fd`` to 10 or above, so putting the pipe ends on 3 and 4 cannot clobber or
    close one of them (a fresh process's ``os.pipe()`` returns 3 and 4 themselves)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _evaluate(cdp: _Pipe, session: str, expression: str) -> Any:
    """Run a page script (awaiting its promise) and return its value as JSON."""
    found = cdp.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                          "returnByValue": True}, session)
    if "exceptionDetails" in found:
        raise RuntimeError(f"page check script failed: {found['exceptionDetails']}")
    return found["result"].get("value")


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            out.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", "")))
                                for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            out.append(details.get("exception", {}).get("description") or details["text"])
    return out


def check_page(html: Path, *, screenshot: Path | None = None, width: int = 1280,
               height: int = 900, max_height: int | None = None, timeout_s: float = 60.0,
               media_timeout_s: float = 10.0, chromium: str | None = None,
               play: bool = False) -> PageCheck:
    """Load a local HTML page in headless chromium, report what loaded, and optionally
    save a full-page screenshot.

    Args:
        html: the page file.
        screenshot: PNG to write with the whole page (or its top ``max_height`` pixels).
        width, height: viewport size in CSS pixels (the screenshot is ``width`` wide).
        max_height: cut the screenshot to this many pixels from the top.
        timeout_s: bound on the whole visit, start to exit, in seconds.
        media_timeout_s: how long to wait for every ``<video>``'s metadata, in seconds.
        chromium: executable to use (see `find_chromium`).
        play: also play every video to its end (each within ``media_timeout_s``).

    Returns:
        Sections, images, videos and console errors of the loaded page.

    Raises:
        FileNotFoundError: when ``html`` does not exist.
        NextEventError: stage ``report`` when no chromium is found.
        TimeoutError: when chromium does not finish within ``timeout_s``.
        RuntimeError: when chromium exits early or rejects a command.
    """
    html = html.resolve()
    if not html.is_file():
        raise FileNotFoundError(f"{html} does not exist")
    exe = find_chromium(chromium)
    url = html.as_uri()
    check = PageCheck(url=url)
    deadline = time.monotonic() + timeout_s
    to_browser_r, to_browser_w = (_high_fd(fd) for fd in os.pipe())
    from_browser_r, from_browser_w = (_high_fd(fd) for fd in os.pipe())
    bash = shutil.which("bash") or "/bin/bash"

    with tempfile.TemporaryDirectory(prefix="nextevent-chromium-") as profile, \
            open(Path(profile, "chromium.log"), "w+b") as log:
        env = {**os.environ, "NE_TO_BROWSER": str(to_browser_r),
               "NE_FROM_BROWSER": str(from_browser_w)}
        proc = subprocess.Popen(
            [bash, "-c", PIPE_TRAMPOLINE, "bash", exe, *FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            pass_fds=(to_browser_r, from_browser_w), start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        try:
            cdp = _Pipe(proc, to_browser_w, from_browser_r, deadline)
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                cdp.send(f"{domain}.enable", session=session)
            cdp.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1,
                      "mobile": False}, session)
            cdp.events.clear()
            cdp.send("Page.navigate", {"url": url}, session)
            cdp.wait_event("Page.loadEventFired", session)
            page = _evaluate(cdp, session, PAGE_JS)
            check.title, check.sections = page["title"], page["sections"]
            check.images, check.external = page["images"], page["links"]
            metrics = cdp.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            check.size = (int(size["width"]), int(size["height"]))
            if screenshot is not None:  # before the players load: posters, no spinners
                shot_h = check.size[1] if max_height is None else min(check.size[1], max_height)
                # a viewport as tall as the shot: off-screen players would show spinners
                cdp.send("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": shot_h, "deviceScaleFactor": 1,
                          "mobile": False}, session)
                _evaluate(cdp, session, SETTLE_JS)
                shot = cdp.send("Page.captureScreenshot", {
                    "format": "png",
                    "clip": {"x": 0, "y": 0, "width": width, "height": shot_h, "scale": 1}},
                    session)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                check.screenshot = screenshot
            media_ms = int(media_timeout_s * 1000)
            check.videos = _evaluate(cdp, session,
                                     f"({MEDIA_JS})({media_ms}, {str(play).lower()})")
            check.console_errors = _console_errors(cdp.events)
            with contextlib.suppress(RuntimeError):  # it may exit before it answers
                cdp.send("Browser.close")
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except (TimeoutError, RuntimeError, subprocess.TimeoutExpired) as err:
            log.flush()
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            kind = RuntimeError if isinstance(err, RuntimeError) else TimeoutError
            raise kind(f"{err}; chromium {exe} said: " + " | ".join(tail)) from err
        finally:
            if proc.poll() is None:  # still running: end it with the renderer, GPU and
                # utility processes it started, all in the session started for it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            os.close(to_browser_w)
    return check
