"""The page's replay of a landmark file: the server reads the upload (``/landmarks``) into one document the page plays
through the live protocol; bad uploads are one line naming the file; no stream is opened for it."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.data.writers import write_npz
from signstgcn.errors import DataError
from signstgcn.inference.replay import landmark_document
from tests.conftest import shared_data
from tests.test_serve import _serving
from tests.test_streaming import predictor, random_model

websockets = pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
from websockets.asyncio.client import connect  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _body(T: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {"pose": rng.uniform(0.2, 0.8, (T, 33, 4)), "left_hand": rng.uniform(0.2, 0.8, (T, 21, 3)),
              "right_hand": rng.uniform(0.2, 0.8, (T, 21, 3)), "face": rng.uniform(0.3, 0.6, (T, 478, 3))}
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    arrays["left_hand"][: T // 2] = np.nan  # the left hand unseen in the first half
    return arrays


def test_the_document_holds_the_checkpoints_parts_at_the_serving_rate(tmp_path):
    pred = predictor(random_model(1))  # pose + hands, 2 channels
    path = write_npz(tmp_path / "clip.npz", Landmarks(tmp_path / "clip.npz", _body(40), fps=30.0,
                                                       image_size=(1280.0, 720.0)))
    doc = landmark_document(path.read_bytes(), "clip.npz", pred, fps=30.0)
    assert doc["type"] == "landmarks" and doc["frames"] == 40 and doc["source_fps"] == 30.0
    assert sorted(doc["parts"]) == ["left_hand", "pose", "right_hand"]  # the face is not read by this checkpoint
    original = load_landmarks(path).arrays
    pose = np.array(doc["parts"]["pose"], dtype=np.float64)  # (T, 33, 2)
    np.testing.assert_allclose(pose, original["pose"][..., :2], atol=1e-5)
    assert doc["parts"]["left_hand"][0] == [None] * 21 and doc["parts"]["left_hand"][-1][0] is not None
    assert doc["image_size"] == [1280.0, 720.0] and [0, 1] in doc["edges"]["left_hand"]
    x0, x1, y0, y1 = doc["view"]
    assert x0 < x1 <= 1.05 * 16 / 9 + 1e-6 and -0.05 <= y0 < y1 <= 1.05  # drawn x times width / height, in frame
    json.dumps(doc, allow_nan=False)  # valid JSON: no NaN

    slow = write_npz(tmp_path / "slow.npz", Landmarks(tmp_path / "slow.npz", _body(50), fps=25.0))
    doc = landmark_document(slow.read_bytes(), "slow.npz", pred, fps=30.0)
    assert doc["frames"] == 60 and doc["fps"] == 30.0 and doc["source_fps"] == 25.0  # same 2 s at the model's rate


def test_bad_uploads_are_one_line_naming_the_file(tmp_path):
    pred = predictor(random_model(1))
    body = _body(10)
    good = write_npz(tmp_path / "a.npz", Landmarks(tmp_path / "a.npz", body)).read_bytes()
    no_hands = write_npz(tmp_path / "b.npz", Landmarks(tmp_path / "b.npz", {"face": body["face"]})).read_bytes()
    body25 = {"pose": np.full((10, 25, 3), 0.5, np.float32), "right_hand": body["right_hand"]}
    cases = {("clip.npz", b""): "clip.npz: the file is empty",
             ("clip.npz", b"not a zip"): "clip.npz: not a readable .npz file",
             ("clip.mp4", good): "clip.mp4: cannot replay this file; expected a landmark file",
             ("face.npz", no_hands): "face.npz: has no pose landmarks",
             ("op.npz", write_npz(tmp_path / "c.npz", Landmarks(tmp_path / "c.npz", body25)).read_bytes()):
                 "op.npz: pose has 25 joints (body25)",
             ("../../etc/x y.npz", b""): "x_y.npz: the file is empty"}  # the base name only, made safe
    for (name, data), expected in cases.items():
        with pytest.raises(DataError) as err:
            landmark_document(data, name, pred, fps=30.0)
        message = str(err.value)
        assert message.startswith(expected) and "\n" not in message and "signstgcn-replay" not in message, message
    nothing = {k: np.full_like(v, np.nan) for k, v in body.items()}
    empty = write_npz(tmp_path / "d.npz", Landmarks(tmp_path / "d.npz", nothing)).read_bytes()
    with pytest.raises(DataError, match="nobody.npz: no detected landmark in any frame"):
        landmark_document(empty, "nobody.npz", pred, fps=30.0)


def test_the_server_endpoint_answers_one_document_and_opens_no_stream():
    pred = predictor(random_model(2))
    path = shared_data("mp_detect") / "s20_det0.npz"

    async def upload(url, header, data):
        async with connect(url + "/landmarks") as ws:
            await ws.send(json.dumps(header) if isinstance(header, dict) else header)
            if data is not None:
                await ws.send(data)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            await asyncio.wait_for(ws.wait_closed(), 10)  # the server closes after its one answer
            return reply

    async def scenario(url):
        async with connect(url) as stream:  # a stream beside the uploads
            hello = json.loads(await stream.recv())
            replies = [await upload(url, {"type": "file", "name": path.name}, path.read_bytes()),
                       await upload(url, {"type": "file", "name": "x.npz"}, "text, not bytes"),
                       await upload(url, "not json at all", None),
                       await upload(url, {"type": "file", "name": "x.npz"}, b"corrupt")]
            await stream.send(json.dumps({"type": "stats"}))
            stats = json.loads(await stream.recv())
            return hello, replies, stats

    (hello, replies, stats), server, det = asyncio.run(_serving(pred, scenario))
    doc, text, garbage, corrupt = replies
    assert hello["upload_limit"] >= 1 << 20 and hello["mediapipe"] is False  # no assets given to this server
    expected = landmark_document(path.read_bytes(), path.name, pred, fps=server.fps)
    assert doc == json.loads(json.dumps(expected))
    assert doc["frames"] == load_landmarks(path).num_frames
    assert text == {"type": "error", "error": "x.npz: expected the file's content as one binary message"}
    assert garbage == {"type": "error", "error": 'expected {"type": "file", "name": FILE NAME} as JSON first, then '
                                                 'the file as one binary message'}
    assert corrupt["type"] == "error" and corrupt["error"].startswith("x.npz: not a readable .npz file")
    assert stats["streams"] == 1 and stats["frames_received"] == server.frames_received == 0  # no stream, no frame


def test_a_segment_open_at_end_gets_its_end_event_before_ended():
    pred = predictor(random_model(4))
    frames = np.random.default_rng(0).uniform(0.3, 0.7, (40, pred.layout.num_nodes, 2)).astype("<f4")

    async def scenario(url):
        async with connect(url) as ws:
            await ws.recv()  # hello
            for frame in frames:
                await ws.send(frame.tobytes())
            await ws.send(json.dumps({"type": "end"}))
            got = []
            while not got or got[-1]["type"] != "ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return got

    got, server, det = asyncio.run(_serving(pred, scenario, threshold=0.0, fps=20.0))  # every frame is signing
    events = [m for m in got if m["type"] == "segment"]
    assert events == [{"type": "segment", "event": "start", "frame": 0, "time": 0.0},
                      {"type": "segment", "event": "end", "frame": 40, "time": 2.0}]  # closed where the stream ends
    assert got[-1] == {"type": "ended", "frames": 40}
