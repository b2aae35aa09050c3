// The live page of `signstgcn serve`: the camera (or a video file) -> MediaPipe Holistic in the page -> landmark
// frames over the server's WebSocket protocol -> the signing probability, segments and signs drawn as they come.
// Plain ES module, no framework; MediaPipe's classic script (/holistic/holistic.js) defines window.Holistic.

const TRACE_SECONDS = 10;
const $ = (id) => document.getElementById(id);

const state = {
  ws: null, hello: null, holistic: null, running: false, source: null,
  sent: 0, frameNo: 0, captured: 0, answered: 0, dropped: 0, results: 0, mpFrames: 0, mpStart: 0,
  sentAt: new Map(), e2e: [], trace: [], signing: false, segments: [], lastLandmarks: null,
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
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`);
  state.ws = ws;
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => { message("The server closed the connection; reload the page to reconnect."); };
  ws.onerror = () => { message("Cannot reach the server."); };
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
      state.answered += 1;
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

function sendFrame(results) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !state.hello) return;
  const parts = state.hello.parts || ["pose", "left_hand", "right_hand"];
  const frame = { type: "frame" };
  if (parts.includes("pose") && results.poseLandmarks) frame.pose = points(results.poseLandmarks, true);
  if (parts.includes("left_hand") && results.leftHandLandmarks) frame.left_hand = points(results.leftHandLandmarks);
  if (parts.includes("right_hand") && results.rightHandLandmarks) frame.right_hand = points(results.rightHandLandmarks);
  if (parts.includes("face") && results.faceLandmarks) frame.face = points(results.faceLandmarks);
  if (Object.keys(frame).length === 1) { message("No person in view."); return; }
  if (!frame.left_hand && !frame.right_hand) message("No hands in view."); else message("");
  state.sentAt.set(state.frameNo, state.captured); // the server numbers the frames of a stream in order
  state.frameNo += 1;
  state.sent += 1;
  ws.send(JSON.stringify(frame));
}

// ------------------------------------------------------------------------------------------ drawing

function drawOverlay(results) {
  const video = $("video");
  const canvas = $("overlay");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 360;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const draw = (landmarks, connections, color) => {
    if (!landmarks) return;
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 3;
    for (const [a, b] of connections || []) {
      ctx.beginPath();
      ctx.moveTo(landmarks[a].x * canvas.width, landmarks[a].y * canvas.height);
      ctx.lineTo(landmarks[b].x * canvas.width, landmarks[b].y * canvas.height);
      ctx.stroke();
    }
    for (const p of landmarks) ctx.fillRect(p.x * canvas.width - 2, p.y * canvas.height - 2, 4, 4);
  };
  draw(results.poseLandmarks, window.POSE_CONNECTIONS, "#f5f5f5");
  draw(results.leftHandLandmarks, window.HAND_CONNECTIONS, "#ff9f1c");
  draw(results.rightHandLandmarks, window.HAND_CONNECTIONS, "#2ec4b6");
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

async function startHolistic() {
  if (state.holistic) return state.holistic;
  if (typeof window.Holistic !== "function") {
    throw new Error("MediaPipe is not installed for this server: run 'signstgcn web-assets' and restart it");
  }
  const holistic = new window.Holistic({ locateFile: (file) => `/holistic/${file}` });
  holistic.setOptions({ modelComplexity: 1, smoothLandmarks: true, refineFaceLandmarks: false });
  holistic.onResults((results) => {
    state.mpFrames += 1;
    drawOverlay(results);
    sendFrame(results);
  });
  await holistic.initialize();
  state.holistic = holistic;
  return holistic;
}

async function run(video) {
  const holistic = await startHolistic();
  if (state.ws && state.ws.readyState === WebSocket.OPEN && video.videoWidth) {
    state.ws.send(JSON.stringify({ type: "image_size", width: video.videoWidth, height: video.videoHeight }));
  }
  state.running = true;
  state.mpStart = performance.now();
  state.mpFrames = 0;
  $("stop").disabled = false;
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
  state.running = false;
  state.sentAt.clear(); // the server starts a new stream (frame 0) after 'end'
  state.frameNo = 0;
  const video = $("video");
  if (video.srcObject) { video.srcObject.getTracks().forEach((t) => t.stop()); video.srcObject = null; }
  video.pause();
  $("stop").disabled = true;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "end" }));
}

async function startCamera() {
  const video = $("video");
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    message(`The camera was refused or is missing (${err.name}); allow it, or open a video file.`);
    return;
  }
  await video.play();
  await run(video).catch((err) => message(err.message));
}

async function openFile(file) {
  const video = $("video");
  if (video.srcObject) stop();
  video.src = URL.createObjectURL(file);
  await video.play();
  await run(video).catch((err) => message(err.message));
}

$("camera").addEventListener("click", () => { startCamera(); });
$("stop").addEventListener("click", () => { stop(); });
$("file").addEventListener("change", (event) => { if (event.target.files[0]) openFile(event.target.files[0]); });
connect();
