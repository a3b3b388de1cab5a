// The live camera page: webcam frames go to the server over a websocket as JPEGs; each answer
// redraws the boxes over the video. A new frame is sent as soon as the previous one has been
// answered (one in flight), so a slow server lowers the frame rate instead of building a queue.
// The page shows the frames per second and the latency it measures, and for each face (the
// server gives each face a track number that it keeps while in view) a timeline of its
// emotions over the last minute.
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
  const state = { stream: null, socket: null, waiting: false, sentAt: 0, running: false, retryTimer: null };
  // Answer times (ms, performance.now()) and latencies of the last few seconds, for the stats.
  const answers = [];
  const STATS_WINDOW_MS = 3000;
  // Each face's card and emotion history, by track number.
  const cards = new Map();
  const TIMELINE_MS = 60000;
  let drawnAt = 0;

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
    // A socket that was replaced (Stop, then Start) no longer speaks for the page.
    socket.addEventListener("open", () => {
      if (state.socket !== socket) return;
      state.running = true;
      state.streamNumber = 0;
      clearFaces();
      sendSettings();
      $("capture").disabled = false;
      sendFrame();
    });
    socket.addEventListener("message", (event) => {
      if (state.socket === socket) handle(JSON.parse(event.data));
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
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

  function showStats(now) {
    // The first answer of a connection may include loading the models: not a frame's latency.
    if (!state.answered) {
      state.answered = true;
      return;
    }
    answers.push({ at: now, latency: now - state.sentAt });
    while (answers.length && answers[0].at < now - STATS_WINDOW_MS) answers.shift();
    if (answers.length < 2) return;
    const seconds = (answers[answers.length - 1].at - answers[0].at) / 1000;
    const latencies = answers.map((item) => item.latency).sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)];
    const p95 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.95))];
    $("stats").textContent = `${((answers.length - 1) / seconds).toFixed(1)} frames/s · ${Math.round(median)} ms per frame (95% under ${Math.round(p95)} ms)`;
  }

  // The faces of a stream that starts again (new socket, new settings) are numbered afresh.
  function clearFaces() {
    answers.length = 0;
    state.answered = false;
    for (const card of cards.values()) card.element.remove();
    cards.clear();
  }

  function captureFailed(message) {
    $("capture-status").textContent = `Not saved: ${message.error.message}`;
    $("capture-status").hidden = false;
    $("capture").disabled = !state.running;
  }

  function handle(message) {
    if (message.type === "ready") {
      // New settings start a new stream on the server: its faces are numbered afresh.
      if (state.streamNumber && state.streamNumber !== message.stream) clearFaces();
      state.streamNumber = message.stream;
    } else if (message.type === "faces") {
      if (message.stream !== state.streamNumber) {
        // A late answer of the stream the new settings replaced: only its frame slot counts.
        state.waiting = false;
        requestAnimationFrame(sendFrame);
        return;
      }
      const now = performance.now();
      state.waiting = false;
      showError("");
      draw(message);
      remember(message, now);
      showStats(now);
      requestAnimationFrame(sendFrame);
    } else if (message.type === "error" && message.capture) {
      captureFailed(message);
    } else if (message.type === "error") {
      if (message.frame !== undefined) {
        state.waiting = false;
        if (message.error.code === "busy") {
          // The server's live lane is full: wait as long as it asks, then go on.
          const seconds = message.retry_after || 1;
          showError(`The server is busy; retrying in ${seconds} s.`);
          clearTimeout(state.retryTimer);
          state.retryTimer = setTimeout(sendFrame, seconds * 1000);
          return;
        }
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
      const who = face.person ? face.person.name : face.track;
      const label = `${who} ${face.dominant_emotion} ${Math.round(face.confidence * 100)}%`;
      ctx.font = `${14 * unit}px system-ui, sans-serif`;
      const textWidth = ctx.measureText(label).width + 10 * unit;
      ctx.fillStyle = color;
      ctx.fillRect(x, Math.max(0, y - 22 * unit), textWidth, 22 * unit);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, x + 5 * unit, Math.max(16 * unit, y - 6 * unit));
    }
  }

  // The faces' cards: one per track seen in the last minute, in view or not.
  function remember(message, now) {
    const inView = new Set();
    for (const face of message.faces) {
      inView.add(face.track);
      let card = cards.get(face.track);
      if (!card) {
        card = makeCard(face.track);
        cards.set(face.track, card);
      }
      card.history.push({ at: now, emotions: face.emotions });
      card.seen = now;
      // Once a face is recognised its card keeps the name while the track lasts.
      if (face.person) card.name = face.person.name;
      updateBars(card, face);
    }
    for (const [track, card] of cards) {
      while (card.history.length && card.history[0].at < now - TIMELINE_MS) card.history.shift();
      if (!card.history.length) {
        card.element.remove();
        cards.delete(track);
        continue;
      }
      card.element.classList.toggle("is-gone", !inView.has(track));
      const who = card.name ? `${card.name} (face ${track})` : `Face ${track}`;
      card.title.textContent = `${who}: ${inView.has(track) ? card.dominant : "out of view"}`;
    }
    const list = $("live-faces");
    const empty = list.querySelector(".empty");
    if (!cards.size && !empty) list.innerHTML = '<p class="muted small empty">No face in view.</p>';
    else if (!cards.size) empty.textContent = "No face in view.";
    else if (empty) empty.remove();
    // Timelines are redrawn a few times a second, not at every frame.
    if (now - drawnAt > 250) {
      drawnAt = now;
      for (const card of cards.values()) drawTimeline(card, now);
    }
  }

  function makeCard(track) {
    const element = document.createElement("div");
    element.className = "live-face";
    element.dataset.track = track;
    const title = document.createElement("h3");
    const bars = document.createElement("div");
    bars.className = "bars";
    bars.innerHTML = EMOTIONS.map((name) => `
      <div class="bar-row" data-name="${name}"><span class="bar-label">${name}</span>
      <span class="bar-track"><span class="bar-fill" style="background:var(--${name})"></span></span>
      <span class="bar-value"></span></div>`).join("");
    const timeline = document.createElement("canvas");
    timeline.className = "timeline";
    timeline.width = 300;
    timeline.height = 70;
    timeline.setAttribute("role", "img");
    timeline.setAttribute("aria-label", `Face ${track}'s emotions over the last minute`);
    element.append(title, bars, timeline);
    $("live-faces").append(element);
    return { element, title, bars, timeline, history: [], seen: 0, dominant: "" };
  }

  function updateBars(card, face) {
    card.dominant = face.dominant_emotion;
    card.element.dataset.emotion = face.dominant_emotion;
    for (const row of card.bars.children) {
      const name = row.dataset.name;
      const value = face.emotions[name];
      row.classList.toggle("is-dominant", name === face.dominant_emotion);
      row.querySelector(".bar-fill").style.width = `${value * 100}%`;
      row.querySelector(".bar-value").textContent = `${Math.round(value * 100)}%`;
    }
  }

  // Each emotion's probability over the last minute, one line per emotion; now at the right.
  function drawTimeline(card, now) {
    const canvas = card.timeline;
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = "#e2e8f0";
    ctx.lineWidth = 1;
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    // Quarter lines, so that the top and bottom lines do not hide in the frame.
    ctx.strokeStyle = "#f1f5f9";
    for (const level of [0.25, 0.5, 0.75]) {
      ctx.beginPath();
      ctx.moveTo(0, Math.round(height - 6 - level * (height - 12)) + 0.5);
      ctx.lineTo(width, Math.round(height - 6 - level * (height - 12)) + 0.5);
      ctx.stroke();
    }
    const x = (at) => width - 2 - ((now - at) / TIMELINE_MS) * (width - 4);
    const y = (p) => height - 6 - p * (height - 12);
    for (const name of EMOTIONS) {
      ctx.strokeStyle = COLORS[name];
      ctx.lineWidth = name === card.dominant ? 2 : 1;
      ctx.beginPath();
      let last = null;
      for (const point of card.history) {
        // A gap of more than a second (the face was out of view) breaks the line.
        if (last === null || point.at - last > 1000) ctx.moveTo(x(point.at), y(point.emotions[name]));
        else ctx.lineTo(x(point.at), y(point.emotions[name]));
        last = point.at;
      }
      ctx.stroke();
    }
  }

  function stop(closeSocket = true) {
    state.running = false;
    state.waiting = false;
    clearTimeout(state.retryTimer);
    $("capture").disabled = true;
    // Stopped by the person (not by a lost connection, whose message stays): nothing is wrong.
    if (closeSocket) showError("");
    if (closeSocket && state.socket) {
      state.socket.close();
      state.socket = null;
    }
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
