// The live camera page: webcam frames go to the server over a websocket as JPEGs; each answer
// redraws the boxes over the video. A new frame is sent only once the previous one has been
// answered, so a slow server lowers the frame rate instead of building a queue.
(function () {
  "use strict";

  const EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];
  const COLORS = {
    angry: "#dc2626", disgust: "#65a30d", fear: "#7c3aed", happy: "#f59e0b",
    neutral: "#64748b", sad: "#2563eb", surprise: "#db2777",
  };
  const root = document.getElementById("camera");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const overlay = $("overlay");
  const grab = document.createElement("canvas");
  const state = { stream: null, socket: null, waiting: false, sentAt: 0, frames: 0, since: 0, running: false };

  function showError(message) {
    $("camera-error").textContent = message || "";
    $("camera-error").hidden = !message;
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${root.dataset.wsPath}`;
  }

  async function start() {
    showError("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("This browser cannot use a camera here (it needs HTTPS or localhost).");
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (error) {
      showError(`The camera could not be opened: ${error.message}`);
      return;
    }
    video.srcObject = state.stream;
    await video.play();
    $("placeholder").hidden = true;
    connect();
    $("start").disabled = true;
    $("stop").disabled = false;
  }

  function connect() {
    const socket = new WebSocket(socketUrl());
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.running = true;
      state.since = performance.now();
      state.frames = 0;
      sendSettings();
      $("capture").disabled = false;
      sendFrame();
    });
    socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      state.running = false;
      $("capture").disabled = true;
      if (event.code === 4401) showError("Your session has ended: log in again to use the camera.");
      else if (state.stream) showError("The connection to the server was lost. Press Start to retry.");
      stop(false);
    });
  }

  function sendSettings() {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: "settings", passes: Number($("passes").value) }));
    }
  }

  function sendFrame() {
    if (!state.running || state.waiting || !video.videoWidth) {
      if (state.running && !video.videoWidth) setTimeout(sendFrame, 100);
      return;
    }
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    grab.toBlob((blob) => {
      if (!blob || !state.running) return;
      state.waiting = true;
      state.sentAt = performance.now();
      state.socket.send(blob);
    }, "image/jpeg", 0.85);
  }

  function handle(message) {
    if (message.type === "faces") {
      state.waiting = false;
      state.frames += 1;
      draw(message);
      const seconds = (performance.now() - state.since) / 1000;
      $("stats").textContent = `${(state.frames / seconds).toFixed(1)} frames/s · ${Math.round(performance.now() - state.sentAt)} ms per frame`;
      requestAnimationFrame(sendFrame);
    } else if (message.type === "error") {
      if (message.frame !== undefined) {
        state.waiting = false;
        requestAnimationFrame(sendFrame);
      }
      showError(message.error.message);
    } else if (message.type === "saved") {
      const link = document.createElement("a");
      link.href = `${root.dataset.archiveUrl}${message.analysis_id}/`;
      link.textContent = `“${message.name}”`;
      $("capture-status").replaceChildren("Saved as ", link, ".");
      $("capture-status").hidden = false;
      $("capture").disabled = false;
    }
  }

  function draw(message) {
    const { width, height } = message.image;
    overlay.width = width;
    overlay.height = height;
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const unit = Math.max(1, width / 640);
    for (const face of message.faces) {
      const [x, y, w, h] = face.box;
      const color = face.quality.verdict === "uncertain" ? "#94a3b8" : COLORS[face.dominant_emotion];
      ctx.lineWidth = 3 * unit;
      ctx.strokeStyle = color;
      ctx.setLineDash(face.quality.verdict === "uncertain" ? [8 * unit, 6 * unit] : []);
      ctx.strokeRect(x, y, w, h);
      const label = `${face.index + 1} ${face.dominant_emotion} ${Math.round(face.confidence * 100)}%`;
      ctx.font = `${14 * unit}px system-ui, sans-serif`;
      const textWidth = ctx.measureText(label).width + 10 * unit;
      ctx.fillStyle = color;
      ctx.fillRect(x, Math.max(0, y - 22 * unit), textWidth, 22 * unit);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, x + 5 * unit, Math.max(16 * unit, y - 6 * unit));
    }
    const list = $("live-faces");
    if (!message.faces.length) {
      list.innerHTML = '<p class="muted small">No face in view.</p>';
      return;
    }
    list.replaceChildren(...message.faces.map((face) => {
      const item = document.createElement("div");
      item.className = "live-face";
      item.dataset.emotion = face.dominant_emotion;
      item.innerHTML = `<h3>Face ${face.index + 1}: ${face.dominant_emotion}</h3><div class="bars">${EMOTIONS.map((name) => `
        <div class="bar-row${name === face.dominant_emotion ? " is-dominant" : ""}"><span class="bar-label">${name}</span>
        <span class="bar-track"><span class="bar-fill" style="width:${face.emotions[name] * 100}%;background:var(--${name})"></span></span>
        <span class="bar-value">${Math.round(face.emotions[name] * 100)}%</span></div>`).join("")}</div>`;
      return item;
    }));
  }

  function stop(closeSocket = true) {
    state.running = false;
    state.waiting = false;
    if (closeSocket && state.socket) state.socket.close();
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    video.srcObject = null;
    $("placeholder").hidden = false;
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
    $("start").disabled = false;
    $("stop").disabled = true;
  }

  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", () => stop(true));
  $("passes").addEventListener("input", (event) => { $("passes-value").textContent = event.target.value; sendSettings(); });
  $("capture-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return;
    $("capture").disabled = true;
    $("capture-status").hidden = true;
    state.socket.send(JSON.stringify({ type: "capture", name: $("capture-name").value }));
  });
})();
