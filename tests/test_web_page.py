"""The browser page of ``signstgcn serve``: headless Chromium with a fake camera playing a real sign video,
MediaPipe Holistic running in the page, landmarks reaching the server and results drawn; nothing leaves localhost."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import shared_data


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    from signstgcn.errors import SignSTGCNError
    from signstgcn.inference.web_assets import install_assets

    if shutil.which("npm") is None:
        pytest.skip("the page needs MediaPipe from npm (apt-get install npm); no npm here")
    root = tmp_path_factory.mktemp("web_assets")
    try:
        return install_assets(root)
    except SignSTGCNError as err:  # no registry reachable
        pytest.skip(f"signstgcn web-assets could not fetch MediaPipe: {err}")


def _fake_camera(path: Path, video: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """The video as a .y4m file (Chromium's fake video capture), written with OpenCV (BGR -> I420)."""
    cv2 = pytest.importorskip("cv2", reason="converting the video for the fake camera needs OpenCV (.[mediapipe])")
    cap = cv2.VideoCapture(str(video))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.write(b"FRAME\n" + cv2.cvtColor(cv2.resize(frame, size), cv2.COLOR_BGR2YUV_I420).tobytes())
    cap.release()
    return path


def _serve(assets: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "signstgcn", "serve", "--port", "0", "--assets", str(assets),
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    raise AssertionError("signstgcn serve did not start")


def test_the_page_runs_mediapipe_on_the_camera_and_draws_the_server_results(assets, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    camera = _fake_camera(tmp_path / "msl_yo.y4m", shared_data("videos") / "msl_yo.mp4")
    proc, port = _serve(assets)
    flags = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-video-capture={camera}", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
             "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update",
             "--no-first-run"]
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=flags)
            page = browser.new_page()
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(base + "/", wait_until="load")
            if not page.evaluate("!!document.createElement('canvas').getContext('webgl2')"):
                browser.close()
                pytest.skip("this Chromium has no WebGL 2 (not even SwiftShader): MediaPipe cannot run in the page")
            page.get_by_role("button", name="Start camera").click()  # a real, keyboard-operable button
            drawn = "window.signstgcn.results >= 3 && document.getElementById('trace').dataset.points > 0"
            page.wait_for_function(drawn, timeout=120_000)
            state = page.evaluate("({sent: window.signstgcn.sent, mp: window.signstgcn.mpFrames, "
                                  "text: document.getElementById('state').textContent, "
                                  "model: document.getElementById('model').textContent})")
            browser.close()
        health = json.loads(urllib.request.urlopen(base + "/health", timeout=10).read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert state["mp"] >= 3 and state["sent"] >= 3  # MediaPipe ran in the page on the fake camera's frames
    assert health["frames_received"] >= 3 and health["frames_answered"] >= 3
    assert state["text"] in ("Signing", "Not signing") and "signstgcn-signing-detector" in state["model"]
    assert not errors, errors
    assert all(url.startswith(base) or url.startswith(("data:", "blob:")) for url in requests), requests


def test_the_server_serves_only_the_page_and_mediapipe_files(assets):
    from signstgcn.inference.web_page import page_response

    pytest.importorskip("websockets", reason="the page is served by signstgcn serve (the [serve] extra)")
    page = page_response("/", assets)
    assert page.status_code == 200 and b"/app.js" in page.body
    assert page.headers["Content-Type"].startswith("text/html")
    assert page_response("/app.js", None).headers["Content-Type"].startswith("text/javascript")
    wasm = page_response("/holistic/holistic_solution_simd_wasm_bin.wasm", assets)
    assert wasm.status_code == 200 and wasm.headers["Content-Type"] == "application/wasm"
    for bad in ("/holistic/../app.js", "/holistic/", "/holistic/.hidden", "/etc/passwd", "/holistic/nope.js"):
        assert page_response(bad, assets).status_code == 404, bad
    assert page_response("/holistic/holistic.js", None).status_code == 404  # no assets folder: not found


def test_the_page_script_passes_eslint(tmp_path_factory):
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("eslint comes from npm (apt-get install npm); no npm here")
    root = tmp_path_factory.mktemp("eslint")
    done = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(root), "eslint@9"],
                          capture_output=True, text=True, timeout=300)
    eslint = root / "node_modules" / ".bin" / "eslint"
    if done.returncode or not eslint.is_file():
        pytest.skip(f"could not install eslint from npm: {(done.stderr or done.stdout).strip()[-200:]}")
    repo = Path(__file__).resolve().parents[1]
    lint = subprocess.run([str(eslint), "--config", "eslint.config.mjs", "signstgcn/web/"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
