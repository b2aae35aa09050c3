// The live page of `signstgcn serve`: the camera (or a video file) -> MediaPipe Holistic in the page -> landmark
// frames over the server's WebSocket protocol -> the signing probability, segments and signs drawn as they come.
// A landmark file replays without a camera: the server reads it (/landmarks) and the page sends its frames in
// their own time through the same protocol. Plain ES module, no framework; MediaPipe's classic script
// (/holistic/holistic.js, loaded when a camera or video first needs it) defines window.Holistic.

const TRACE_SECONDS = 10;
const COLORS = { pose: "#f5f5f5", left_hand: "#ff9f1c", right_hand: "#2ec4b6", face: "#b8b8b8" };
const $ = (id) => document.getElementById(id);
// A server started with --token needs it: the page is opened as /?token=... and passes it on (browsers cannot set
// WebSocket headers).
const TOKEN = new URLSearchParams(location.search).get("token");
const socketUrl = (path) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`
  + (TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "");

const state = {
  ws: null, hello: null, holistic: null, running: false, replay: null,
  sent: 0, frameNo: 0, captured: 0, answered: 0, nextAnswer: 0, dropped: 0, results: 0, mpFrames: 0, mpStart: 0,
  sentAt: new Map(), e2e: [], trace: [], signing: false, flushing: null, endedSignal: null,
};
window.signstgcn = state; // for tests and curious users

function message(text) { $("message").textContent = text || ""; }

function announce(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("events").prepend(item);
}

function setSigning(signing, seconds) {
  state.signing = signing;
  const el = $("state");
  el.textContent = signing ? "Signing" : "Not signing";
  el.className = `state ${signing ? "signing" : "idle"}`;
  announce(`${signing ? "Signing started" : "Signing ended"} at ${seconds.toFixed(1)} s`);
}

function connect() {
  const ws = new WebSocket(socketUrl("/"));
  state.ws = ws;
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => { message("The server closed the connection; reload the page to reconnect."); };
  ws.onerror = () => {
    message(TOKEN ? "Cannot reach the server, or it refused the token."
      : "Cannot reach the server (one started with --token is opened as /?token=TOKEN).");
  };
  setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "stats" })); }, 2000);
}

function onMessage(msg) {
  switch (msg.type) {
    case "hello":
      state.hello = msg;
      $("model").textContent = `model ${msg.model}${msg.classifier ? `, signs by ${msg.classifier}` : ""} · `
        + `window ${msg.window} frames · threshold ${msg.threshold.toFixed(2)}`;
      break;
    case "result": {
      if (msg.frame >= state.nextAnswer) { // the flush after "end" repeats the last frame with its final values
        state.answered += 1;
        state.nextAnswer = msg.frame + 1;
      }
      state.results += 1;
      const sent = state.sentAt.get(msg.frame);
      if (sent !== undefined) {
        state.sentAt.delete(msg.frame);
        requestAnimationFrame(() => { state.e2e.push(performance.now() - sent); state.e2e = state.e2e.slice(-200); });
      }
      if (msg.probability !== null) {
        state.trace.push({ t: performance.now(), p: msg.probability, signing: state.signing });
      }
      drawTrace();
      break;
    }
    case "ended": // the stream is flushed: the next frame starts a new one (frame 0)
      if (state.endedSignal) state.endedSignal();
      break;
    case "segment":
      setSigning(msg.event === "start", msg.time);
      break;
    case "sign":
      announce(`Sign ${msg.gloss} (${Math.round(100 * msg.confidence)}%) at ${msg.start_time.toFixed(1)} s`);
      break;
    case "dropped":
      state.dropped = msg.total;
      message(`The server dropped ${msg.frames} frames (it is busy); results may lag.`);
      break;
    case "stats":
      $("server-fps").textContent = `${msg.frames_per_second}`;
      $("latency").textContent = msg.latency_ms.p50 === null ? "–" : `${msg.latency_ms.p50} / ${msg.latency_ms.p99} ms`;
      break;
    case "error":
      message(`Server: ${msg.error}`);
      break;
    default:
      break;
  }
  showCounts();
}

function showCounts() {
  $("counts").textContent = `${state.sent} / ${state.answered} / ${state.dropped}`;
  const e2e = [...state.e2e].sort((a, b) => a - b);
  if (e2e.length) $("e2e").textContent = `${Math.round(e2e[Math.floor(e2e.length / 2)])} ms (median)`;
  if (state.mpFrames > 1) {
    $("mp-fps").textContent = `${(state.mpFrames / ((performance.now() - state.mpStart) / 1000)).toFixed(1)} frames/s`;
  }
}

// ------------------------------------------------------------------------------------------ landmarks out

function points(list, withVisibility) {
  return list.map((p) => (withVisibility ? [p.x, p.y, p.z, p.visibility ?? 1] : [p.x, p.y, p.z]));
}

// MediaPipe's results -> {part: [[x, y, z(, visibility)], ...]} for the parts the server's checkpoint reads.
function mediapipeParts(results) {
  const want = state.hello ? state.hello.parts : ["pose", "left_hand", "right_hand"];
  const found = {
    pose: results.poseLandmarks && points(results.poseLandmarks, true),
    left_hand: results.leftHandLandmarks && points(results.leftHandLandmarks),
    right_hand: results.rightHandLandmarks && points(results.rightHandLandmarks),
    face: results.faceLandmarks && points(results.faceLandmarks),
  };
  return Object.fromEntries(want.filter((part) => found[part]).map((part) => [part, found[part]]));
}

// One frame of parts to the server (a part that is absent or has no detected joint is not sent).
function sendFrame(parts, capturedAt) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !state.hello) return;
  const frame = { type: "frame" };
  for (const [part, joints] of Object.entries(parts)) {
    if (joints && joints.some((j) => j !== null)) frame[part] = joints.map((j) => j ?? [null, null]);
  }
  if (Object.keys(frame).length === 1) { message("No person in view."); return; }
  if (!frame.left_hand && !frame.right_hand) message("No hands in view."); else message("");
  state.sentAt.set(state.frameNo, capturedAt); // the server numbers the frames of a stream in order
  state.frameNo += 1;
  state.sent += 1;
  ws.send(JSON.stringify(frame));
}

// ------------------------------------------------------------------------------------------ drawing

// parts: {part: [[x, y, ...] | null per joint]}; edges: {part: [[a, b], ...]}; at(x, y) -> canvas [x, y].
function drawSkeleton(ctx, parts, edges, at) {
  for (const [part, joints] of Object.entries(parts)) {
    if (!joints) continue;
    ctx.strokeStyle = COLORS[part] || "#ffffff"; ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = part === "face" ? 1 : 3;
    for (const [a, b] of edges[part] || []) {
      if (!joints[a] || !joints[b]) continue;
      ctx.beginPath(); ctx.moveTo(...at(joints[a][0], joints[a][1])); ctx.lineTo(...at(joints[b][0], joints[b][1]));
      ctx.stroke();
    }
    if (part === "face") continue; // the contours only
    for (const j of joints) if (j) { const [x, y] = at(j[0], j[1]); ctx.fillRect(x - 2, y - 2, 4, 4); }
  }
}

function drawOverlay(parts) {
  const video = $("video");
  const canvas = $("overlay");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 360;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const hand = window.HAND_CONNECTIONS || [];
  drawSkeleton(ctx, parts, { pose: window.POSE_CONNECTIONS || [], left_hand: hand, right_hand: hand },
    (x, y) => [x * canvas.width, y * canvas.height]);
}

// One frame of a replayed file, in the file's view (x times width / height where the file knows its frame size).
function drawReplay(doc, t) {
  const canvas = $("overlay");
  const [x0, x1, y0, y1] = doc.view;
  canvas.width = 640;
  canvas.height = Math.round(640 * Math.min(1.2, Math.max(0.4, (y1 - y0) / (x1 - x0))));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#111111"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const scale = Math.min(canvas.width / (x1 - x0), canvas.height / (y1 - y0));
  const dx = (canvas.width - scale * (x1 - x0)) / 2;
  const dy = (canvas.height - scale * (y1 - y0)) / 2;
  const aspect = doc.image_size ? doc.image_size[0] / doc.image_size[1] : 1;
  const parts = Object.fromEntries(Object.entries(doc.parts).map(([part, frames]) => [part, frames[t]]));
  drawSkeleton(ctx, parts, doc.edges, (x, y) => [dx + scale * (x * aspect - x0), dy + scale * (y - y0)]);
  const seconds = (n) => (n / doc.fps).toFixed(1);
  $("progress").textContent = `${doc.name}: ${seconds(t + 1)} of ${seconds(doc.frames)} s`;
}

function drawTrace() {
  const canvas = $("trace");
  const ctx = canvas.getContext("2d");
  const now = performance.now();
  const span = TRACE_SECONDS * 1000;
  state.trace = state.trace.filter((s) => now - s.t <= span);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const x = (t) => canvas.width * (1 - (now - t) / span);
  const y = (p) => canvas.height * (1 - p);
  if (state.hello) {
    ctx.strokeStyle = "#767676"; ctx.setLineDash([6, 4]); ctx.beginPath();
    ctx.moveTo(0, y(state.hello.threshold)); ctx.lineTo(canvas.width, y(state.hello.threshold)); ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = "#1f4e79"; ctx.lineWidth = 2; ctx.beginPath();
  state.trace.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s.p)) : ctx.moveTo(x(s.t), y(s.p))));
  ctx.stroke();
  canvas.dataset.points = String(state.trace.length);
  const bar = $("segments").getContext("2d");
  bar.clearRect(0, 0, canvas.width, 18);
  state.trace.forEach((s, i) => { // each result's state until the next result
    const end = i + 1 < state.trace.length ? x(state.trace[i + 1].t) : canvas.width;
    bar.fillStyle = s.signing ? "#a63d00" : "#dfe7f0";
    bar.fillRect(x(s.t), 0, Math.max(2, end - x(s.t)), 18);
  });
}

// ------------------------------------------------------------------------------------------ sources

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
}

async function startHolistic() {
  if (state.holistic) return state.holistic;
  if (state.hello && !state.hello.mediapipe) {
    throw new Error("MediaPipe is not installed for this server: run 'signstgcn web-assets' and restart it "
      + "(a landmark file replays without it)");
  }
  if (typeof window.Holistic !== "function") await loadScript("/holistic/holistic.js");
  const holistic = new window.Holistic({ locateFile: (file) => `/holistic/${file}` });
  holistic.setOptions({ modelComplexity: 1, smoothLandmarks: true, refineFaceLandmarks: false });
  holistic.onResults((results) => {
    state.mpFrames += 1;
    const parts = mediapipeParts(results);
    drawOverlay(parts);
    sendFrame(parts, state.captured);
  });
  await holistic.initialize();
  state.holistic = holistic;
  return holistic;
}

function sendImageSize(width, height) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN && width && height) {
    state.ws.send(JSON.stringify({ type: "image_size", width, height }));
  }
}

// A new stream may start once the server has flushed the previous one ("ended").
async function started() {
  if (state.flushing) await state.flushing;
  state.running = true;
  state.frameNo = 0;
  state.nextAnswer = 0;
  $("stop").disabled = false;
}

async function run(video) {
  const holistic = state.holistic;
  await started();
  $("stage").classList.remove("replay");
  sendImageSize(video.videoWidth, video.videoHeight);
  state.mpStart = performance.now();
  state.mpFrames = 0;
  const step = async () => {
    if (!state.running) return;
    if (video.readyState >= 2 && !video.paused && !video.ended) {
      state.captured = performance.now(); // the frame MediaPipe reads now: end to end counts from here
      await holistic.send({ image: video });
    }
    if (video.ended) { stop(); return; }
    requestAnimationFrame(step);
  };
  step();
}

function stop() {
  if (!state.running) return;
  state.running = false;
  state.replay = null;
  state.sentAt.clear(); // the server starts a new stream (frame 0) after 'end'
  const video = $("video");
  if (video.srcObject) { video.srcObject.getTracks().forEach((t) => t.stop()); video.srcObject = null; }
  video.pause();
  $("stop").disabled = true;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.flushing = new Promise((resolve) => {
      state.endedSignal = () => { state.flushing = null; state.endedSignal = null; resolve(); };
    });
    state.ws.send(JSON.stringify({ type: "end" }));
  }
}

// Stop what runs and make sure MediaPipe is ready for a camera or a video; false (and said why) when it cannot be.
async function readyForVideo() {
  stop();
  try {
    await startHolistic();
    return true;
  } catch (err) {
    message(err.message);
    return false;
  }
}

async function startCamera() {
  if (!(await readyForVideo())) return;
  const video = $("video");
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    message(`The camera was refused or is missing (${err.name}); allow it, or open a video or landmark file.`);
    return;
  }
  await video.play();
  await run(video).catch((err) => message(err.message));
}

async function openVideo(file) {
  if (!(await readyForVideo())) return;
  const video = $("video");
  video.src = URL.createObjectURL(file);
  await video.play();
  await run(video).catch((err) => message(err.message));
}

// ------------------------------------------------------------------------------------------ replay

// The server reads the file (any landmark format it knows) and answers one "landmarks" document.
function readOnServer(file) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(socketUrl("/landmarks"));
    ws.onopen = async () => {
      ws.send(JSON.stringify({ type: "file", name: file.name }));
      ws.send(await file.arrayBuffer());
    };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      ws.close();
      if (msg.type === "landmarks") resolve(msg); else reject(new Error(msg.error));
    };
    ws.onclose = (event) => reject(new Error(`the server closed the connection (code ${event.code})`));
  });
}

async function openLandmarks(file) {
  stop();
  const limit = state.hello ? state.hello.upload_limit : Infinity;
  if (file.size > limit) {
    message(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; the server reads files up to `
      + `${(limit / 2 ** 20).toFixed(0)} MB (cut it with signstgcn convert).`);
    return;
  }
  message(`Reading ${file.name} on the server…`);
  let doc;
  try {
    doc = await readOnServer(file);
  } catch (err) {
    message(`Cannot replay ${file.name}: ${err.message}`);
    return;
  }
  message("");
  announce(`Replaying ${doc.name}: ${(doc.frames / doc.fps).toFixed(1)} s`);
  replay(doc);
}

// The file's frames go to the server in their own time (doc.fps), like a camera would send them.
async function replay(doc) {
  await started();
  $("stage").classList.add("replay");
  if (doc.image_size) sendImageSize(doc.image_size[0], doc.image_size[1]);
  state.replay = doc;
  const start = performance.now();
  let next = 0;
  const step = () => {
    if (!state.running || state.replay !== doc) return;
    const due = Math.min(doc.frames, Math.floor(((performance.now() - start) / 1000) * doc.fps) + 1);
    for (; next < due; next += 1) {
      const parts = Object.fromEntries(Object.entries(doc.parts).map(([part, frames]) => [part, frames[next]]));
      sendFrame(parts, performance.now());
    }
    drawReplay(doc, due - 1);
    if (next >= doc.frames) { stop(); return; }
    requestAnimationFrame(step);
  };
  step();
}

$("camera").addEventListener("click", () => { startCamera(); });
$("stop").addEventListener("click", () => { stop(); });
$("file").addEventListener("change", (event) => { if (event.target.files[0]) openVideo(event.target.files[0]); });
$("landmarks").addEventListener("change", (event) => {
  if (event.target.files[0]) openLandmarks(event.target.files[0]);
});
connect();
