"""The browser page of ``signstgcn serve``: headless Chromium with a fake camera playing a real sign video,
MediaPipe Holistic running in the page, landmarks reaching the server and results drawn; nothing leaves localhost."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
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


def _serve(assets: Path | None) -> tuple[subprocess.Popen, int]:
    """``signstgcn serve`` of the shipped detector on a free port (without MediaPipe's files when ``assets`` is
    None: the page then replays landmark files only)."""
    command = [sys.executable, "-m", "signstgcn", "serve", "--port", "0", "--threads", "1"]
    env = dict(os.environ, SIGNSTGCN_WEB_ASSETS=str(assets or Path(tempfile.gettempdir()) / "signstgcn-no-assets"))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 60
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    raise AssertionError("signstgcn serve did not start")


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    return chromium


def test_the_page_runs_mediapipe_on_the_camera_and_draws_the_server_results(assets, tmp_path):
    from playwright import sync_api

    chromium = _chromium()
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


def _npm_install(tmp_path_factory, spec: str, needed: str) -> Path:
    """``npm install spec`` into a temporary folder; the path of its file ``needed`` (relative to node_modules), or
    a skip with the reason where npm or the registry is missing."""
    npm = shutil.which("npm")
    name = spec.rsplit("@", 1)[0]
    if npm is None:
        pytest.skip(f"{name} comes from npm (apt-get install npm); no npm here")
    root = tmp_path_factory.mktemp(name)
    done = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(root), spec],
                          capture_output=True, text=True, timeout=300)
    path = root / "node_modules" / needed
    if done.returncode or not path.is_file():
        pytest.skip(f"could not install {name} from npm: {(done.stderr or done.stdout).strip()[-200:]}")
    return path


def test_the_page_script_passes_eslint(tmp_path_factory):
    eslint = _npm_install(tmp_path_factory, "eslint@9", ".bin/eslint")
    repo = Path(__file__).resolve().parents[1]
    lint = subprocess.run([str(eslint), "--config", "eslint.config.mjs", "signstgcn/web/"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _python_client(port: int, frames, fps: float, out: dict) -> None:
    """docs/detection.md's Python client: binary frames in the checkpoint's joint order at ``fps``, then ``end``."""
    from websockets.asyncio.client import connect

    async def main() -> None:
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            out["hello"] = json.loads(await ws.recv())
            for frame in frames:
                await ws.send(frame.astype("<f4").tobytes())
                await asyncio.sleep(1 / fps)
            await ws.send(json.dumps({"type": "end"}))
            out["messages"] = []
            async for message in ws:
                out["messages"].append(json.loads(message))
                if out["messages"][-1]["type"] == "ended":
                    break

    asyncio.run(main())


def _wait(page, condition: str, timeout: float = 60_000) -> None:
    """``page.wait_for_function`` that says what the page showed when it times out."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, timeout=timeout)
    except PlaywrightTimeout:
        shown = page.evaluate("({message: document.getElementById('message').textContent, events: "
                              "document.getElementById('events').innerText, sent: window.signstgcn.sent, answered: "
                              "window.signstgcn.answered, running: window.signstgcn.running, hello: "
                              "!!window.signstgcn.hello})")
        raise AssertionError(f"the page did not reach {condition!r}; it shows {shown}") from None


def _page_done(page) -> None:
    """Wait until the page's replay has played and the server has flushed its stream."""
    _wait(page, "window.signstgcn.sent > 0 && !window.signstgcn.running && !window.signstgcn.flushing", 90_000)


def test_a_landmark_file_replays_in_the_page_beside_a_python_client():
    """No camera and no MediaPipe: the page replays an npz through the server while docs/detection.md's Python client
    streams another recording; both get their results, and every frame sent is counted once."""
    from playwright import sync_api

    from signstgcn.data.readers import load_landmarks
    from signstgcn.inference.predictor import Predictor

    chromium = _chromium()
    pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
    replayed = shared_data("mp_detect") / "s20_det0.npz"
    frames = Predictor.from_pretrained().frames(load_landmarks(shared_data("mp_detect") / "s31_det1.npz"))
    frames = frames[np.isfinite(frames).any(axis=(1, 2))]  # a frame without anybody is not sent (a bad message)
    proc, port = _serve(None)
    base = f"http://127.0.0.1:{port}"
    client: dict = {}
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(base + "/", wait_until="load")
            _wait(page, "window.signstgcn.hello !== null")
            beside = threading.Thread(target=_python_client, args=(port, frames, 30.0, client))
            beside.start()
            page.get_by_label("Or replay a landmark file").set_input_files(replayed)
            _wait(page, "window.signstgcn.running")
            during = json.loads(urllib.request.urlopen(base + "/health", timeout=10).read())
            _page_done(page)
            beside.join(timeout=60)
            state = page.evaluate("({sent: window.signstgcn.sent, answered: window.signstgcn.answered, "
                                  "points: document.getElementById('trace').dataset.points, "
                                  "hello: window.signstgcn.hello, "
                                  "events: document.getElementById('events').innerText, "
                                  "progress: document.getElementById('progress').innerText, "
                                  "state: document.getElementById('state').textContent})")
            browser.close()
        health = json.loads(urllib.request.urlopen(base + "/health", timeout=10).read())
    finally:
        proc.terminate()
        log = proc.communicate(timeout=30)[0]
    doc_frames = load_landmarks(replayed).num_frames
    assert state["sent"] == state["answered"] == doc_frames  # every frame of s20_det0 holds a body
    assert int(state["points"]) > 0 and "Replaying s20_det0.npz" in state["events"]
    assert "Signing started" in state["events"] and "Signing ended" in state["events"]
    assert state["state"] == "Not signing" and state["progress"].startswith("s20_det0.npz: 8.0 of 8.0 s")
    assert state["hello"]["fps"] == 30.0 and state["hello"]["mediapipe"] is False  # the shipped model's rate
    assert during["streams"] == 2  # the page's stream beside the Python client's (the upload opened none)
    results = [m for m in client["messages"] if m["type"] == "result"]
    assert client["messages"][-1] == {"type": "ended", "frames": len(frames)}
    assert len({m["frame"] for m in results}) == len(frames)
    assert not [m for m in client["messages"] if m["type"] in ("error", "dropped")]
    assert health["frames_received"] == health["frames_answered"] == doc_frames + len(frames)
    assert health["dropped"] == 0 and health["streams"] == 0
    assert "replay of s20_det0.npz: 240 frames" in log
    assert not errors, errors
    assert all(url.startswith(base) or url.startswith(("data:", "blob:")) for url in requests), requests


@pytest.fixture(scope="module")
def axe(tmp_path_factory) -> Path:
    """axe-core (Deque's accessibility engine) from npm."""
    return _npm_install(tmp_path_factory, "axe-core@4", "axe-core/axe.min.js")


def test_the_page_works_from_the_keyboard_and_passes_axe(axe):
    """Every control is reached with Tab and used with the keyboard (a file chosen, a replay stopped), and axe-core
    finds no WCAG 2.1 A/AA or best-practice violation (contrast included) while the page shows a signing state."""
    from playwright import sync_api

    chromium = _chromium()
    proc, port = _serve(None)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
            _wait(page, "window.signstgcn.hello !== null")
            order = []
            for _ in range(3):
                page.keyboard.press("Tab")
                order.append(page.evaluate("document.activeElement.id"))
            assert order == ["camera", "file", "landmarks"]  # Stop is disabled until something runs
            page.focus("#landmarks")
            with page.expect_file_chooser() as chooser:
                page.keyboard.press("Space")
            chooser.value.set_files(shared_data("mp_detect") / "s20_det0.npz")
            _wait(page, "window.signstgcn.signing")
            page.add_script_tag(path=str(axe))
            found = page.evaluate("async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', "
                                  "'wcag21aa', 'best-practice']})).violations.map((v) => `${v.id}: ${v.help}`)")
            assert page.evaluate("document.getElementById('state').textContent") == "Signing"
            page.focus("#stop")
            page.keyboard.press("Enter")
            _wait(page, "!window.signstgcn.running")
            stopped = page.evaluate("document.getElementById('stop').disabled")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert found == [], found
    assert stopped  # Enter on Stop ended the replay
