"""The browser page of ``signstgcn serve`` on a real sign video: MediaPipe frames/s in the page and end-to-end latency.

    signstgcn web-assets                                  # once: MediaPipe from npm into the cache
    python bench/web_page.py --results 20 --screenshot docs/images/live_page.png

Starts ``signstgcn serve --port 0`` (the shipped detector unless ``--ckpt``), opens the page in headless Chromium
whose fake camera plays ``--video`` (converted to .y4m at 640x360 with OpenCV, as tests/test_web_page.py does),
presses "Start camera" and waits for ``--results`` results. Prints the page's own figures: MediaPipe frames/s in the
page, the server's latency p50 / p99, and the median end-to-end latency (frame read by MediaPipe -> its result
drawn), then one JSON line. Needs playwright, Chromium and the .[mediapipe] extra (OpenCV).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_web_page import _fake_camera  # noqa: E402  (one .y4m writer for the test and the benchmark)

FLAGS = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(REPO.parent / "shared" / "data" / "videos" / "msl_yo.mp4"))
    p.add_argument("--ckpt", default=None, help="detector checkpoint (default: the shipped one)")
    p.add_argument("--assets", default=None, help="web-assets folder (default: serve's)")
    p.add_argument("--results", type=int, default=20, help="results to wait for")
    p.add_argument("--screenshot", default=None, help="write a PNG of the page at the end")
    a = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("web_page: no Chromium (Debian: apt-get install chromium)")
    cmd = [sys.executable, "-m", "signstgcn", "serve", "--port", "0", "--threads", "1"]
    cmd += ["--ckpt", a.ckpt] if a.ckpt else []
    cmd += ["--assets", a.assets] if a.assets else []
    with tempfile.TemporaryDirectory() as tmp:
        camera = _fake_camera(Path(tmp) / "camera.y4m", Path(a.video))
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert server.stdout is not None
            port = None
            while port is None:
                line = server.stdout.readline()
                if not line:
                    raise SystemExit("web_page: signstgcn serve did not start")
                found = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
                port = int(found.group(1)) if found else None
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium,
                                             args=[*FLAGS, f"--use-file-for-fake-video-capture={camera}"])
                page = browser.new_page(viewport={"width": 1000, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("button", name="Start camera").click()
                page.wait_for_function(f"window.signstgcn.results >= {a.results}", timeout=600_000)
                if a.screenshot:
                    page.screenshot(path=a.screenshot, full_page=True)
                got = page.evaluate("({mp: document.getElementById('mp-fps').textContent, "
                                    "latency: document.getElementById('latency').textContent, "
                                    "e2e: window.signstgcn.e2e, results: window.signstgcn.results})")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    e2e = statistics.median(got["e2e"]) if got["e2e"] else None
    print(f"MediaPipe in the page: {got['mp']}; server latency p50 / p99: {got['latency']}; end to end "
          f"(median of {len(got['e2e'])}): {e2e:.0f} ms" if e2e is not None else "no end-to-end figure")
    print(json.dumps({"mediapipe": got["mp"], "server_latency": got["latency"], "e2e_median_ms": e2e,
                      "results": got["results"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
