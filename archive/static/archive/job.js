// One job's page: progress from /ws/jobs/ (and polling, in case the socket is down), a cancel
// button, then the result: the video with the faces' boxes drawn as it plays and each track's
// emotions as a chart; the batch's summary; or the faces before and after enhancement.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];
  const COLORS = {};
  const style = getComputedStyle(document.documentElement);
  EMOTIONS.forEach(function (name) { COLORS[name] = style.getPropertyValue("--" + name).trim() || "#888"; });
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const jobId = root.dataset.job;
  const bar = document.getElementById("job-progress");
  const stateEl = document.getElementById("job-state");
  const percentEl = document.getElementById("job-percent");
  const messageEl = document.getElementById("job-message");
  const failure = document.getElementById("job-failure");
  const cancel = document.getElementById("job-cancel");
  const FINISHED = ["done", "failed", "cancelled"];
  let finished = false;
  let polling = null;

  function show(job) {
    if (finished) return;
    bar.value = job.progress;
    percentEl.textContent = job.progress;
    stateEl.textContent = job.state.charAt(0).toUpperCase() + job.state.slice(1);
    messageEl.textContent = job.message || "";
    if (job.error) { failure.textContent = job.error; failure.hidden = false; }
    if (FINISHED.indexOf(job.state) >= 0) {
      finished = true;
      cancel.hidden = true;
      if (polling) clearInterval(polling);
      if (job.state === "done") load();
    }
  }

  function fetchJob() {
    return fetch(root.dataset.api, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  cancel.addEventListener("click", function () {
    cancel.disabled = true;
    messageEl.textContent = "Cancelling…";
    fetch(root.dataset.cancel, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
    }).then(function (r) { return r.json().then(function (body) { return r.ok ? body : Promise.reject(body); }); })
      .then(show).catch(function () { cancel.disabled = false; messageEl.textContent = "The job could not be cancelled; try again."; });
  });

  if (window.WebSocket) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/jobs/");
    socket.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "job" && String(data.job.id) === jobId) show(data.job);
    });
    // Events sent before the socket opened are read once from the API.
    socket.addEventListener("open", function () { fetchJob().then(show).catch(function () {}); });
  }
  // The fallback: poll every 2 s (a no-op once the job is finished).
  polling = setInterval(function () { if (!finished) fetchJob().then(show).catch(function () {}); }, 2000);
  fetchJob().then(show).catch(function () {});

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  function downloads(job) {
    const box = document.getElementById("job-downloads");
    box.replaceChildren();
    const base = root.dataset.api + "/export/";
    if (job.kind !== "enhance") {
      box.appendChild(el("a", { class: "button button-small", href: base + "csv", download: "", id: "download-csv" }, "Download CSV"));
    }
    box.appendChild(el("a", { class: "button button-secondary button-small", href: base + "json", download: "" }, "Download JSON"));
  }

  function load() {
    fetchJob().then(function (job) {
      document.getElementById("job-result").hidden = false;
      downloads(job);
      if (job.kind === "video") video(job);
      else if (job.kind === "batch") batch(job);
      else enhance(job);
    });
  }

  // Video ---------------------------------------------------------------------------------
  function video(job) {
    const result = job.result;
    document.getElementById("video-result").hidden = false;
    const player = document.getElementById("job-video");
    const canvas = document.getElementById("video-boxes");
    player.src = root.dataset.files + "video";
    const frames = result.frames;
    const legend = document.getElementById("emotion-legend");
    EMOTIONS.forEach(function (name) {
      const item = el("li");
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = COLORS[name];
      item.append(swatch, document.createTextNode(name));
      legend.appendChild(item);
    });

    function frameAt(t) {
      let lo = 0, hi = frames.length - 1, best = null;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (frames[mid].t <= t + 1e-3) { best = frames[mid]; lo = mid + 1; } else { hi = mid - 1; }
      }
      return best;
    }

    function draw() {
      // Boxes are in the upright picture, which is what the browser shows.
      const w = player.videoWidth || result.video.width, h = player.videoHeight || result.video.height;
      canvas.width = w; canvas.height = h;
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, w, h);
      const frame = frameAt(player.currentTime);
      if (!frame || player.currentTime - frame.t > 1.5 / result.fps + 0.05) return;
      ctx.lineWidth = Math.max(2, w / 320);
      ctx.font = Math.max(12, Math.round(w / 40)) + "px sans-serif";
      frame.faces.forEach(function (face) {
        const [x, y, bw, bh] = face.box;
        ctx.strokeStyle = COLORS[face.dominant_emotion];
        ctx.strokeRect(x, y, bw, bh);
        const label = "#" + face.track + " " + face.dominant_emotion + " " + Math.round(face.emotions[face.dominant_emotion] * 100) + "%";
        const width = ctx.measureText(label).width + 8;
        ctx.fillStyle = COLORS[face.dominant_emotion];
        ctx.fillRect(x, Math.max(0, y - parseInt(ctx.font, 10) - 6), width, parseInt(ctx.font, 10) + 6);
        ctx.fillStyle = "#fff";
        ctx.fillText(label, x + 4, Math.max(parseInt(ctx.font, 10), y - 5));
      });
    }
    let drawing = false;
    function loop() {
      draw();
      if (!player.paused && !player.ended) requestAnimationFrame(loop); else drawing = false;
    }
    player.addEventListener("play", function () { if (!drawing) { drawing = true; requestAnimationFrame(loop); } });
    player.addEventListener("seeked", draw);
    player.addEventListener("loadeddata", draw);

    const charts = document.getElementById("track-charts");
    const duration = Math.max(result.duration, 0.001);
    result.tracks.forEach(function (track) {
      const card = el("section", { class: "card track-chart", "data-track": track.track });
      const share = Math.round(track.emotions[track.dominant_emotion] * 100);
      card.appendChild(el("h3", {}, "Face #" + track.track + ": mostly " + track.dominant_emotion + " (" + share + "%), " +
        track.first.toFixed(1) + "–" + track.last.toFixed(1) + " s, " + track.frames + " frames"));
      const chart = svg("svg", { viewBox: "0 0 1000 120", preserveAspectRatio: "none", role: "img",
        "aria-label": "Emotions of face " + track.track + " over time" });
      chart.appendChild(svg("rect", { x: 0, y: 0, width: 1000, height: 120, fill: "none", stroke: "#ddd" }));
      const points = {};
      EMOTIONS.forEach(function (name) { points[name] = []; });
      frames.forEach(function (frame) {
        frame.faces.forEach(function (face) {
          if (face.track !== track.track) return;
          const x = (frame.t / duration) * 1000;
          EMOTIONS.forEach(function (name) { points[name].push(x.toFixed(1) + "," + (118 - face.emotions[name] * 116).toFixed(1)); });
        });
      });
      EMOTIONS.forEach(function (name) {
        const line = svg(points[name].length > 1 ? "polyline" : "circle", points[name].length > 1
          ? { points: points[name].join(" "), fill: "none", stroke: COLORS[name], "stroke-width": 2, "vector-effect": "non-scaling-stroke" }
          : { cx: (points[name][0] || "0,0").split(",")[0], cy: (points[name][0] || "0,0").split(",")[1], r: 3, fill: COLORS[name] });
        line.setAttribute("data-emotion", name);
        chart.appendChild(line);
      });
      chart.addEventListener("click", function (event) {
        const box = chart.getBoundingClientRect();
        player.currentTime = ((event.clientX - box.left) / box.width) * duration;
      });
      card.appendChild(chart);
      charts.appendChild(card);
    });
    if (!result.tracks.length) charts.appendChild(el("p", { class: "muted" }, "No face was found in the sampled frames."));
  }

  // Batch ---------------------------------------------------------------------------------
  function batch(job) {
    const box = document.getElementById("batch-result");
    box.hidden = false;
    const r = job.result;
    const card = el("section", { class: "card" });
    card.appendChild(el("h2", {}, r.analysed + " of " + r.photos + " photos analysed, " + r.faces + " faces"));
    const list = el("ul", { class: "emotion-legend" });
    EMOTIONS.forEach(function (name) {
      if (!r.dominant_emotions[name]) return;
      const item = el("li");
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = COLORS[name];
      item.append(swatch, document.createTextNode(name + ": " + r.dominant_emotions[name] + " faces (" + Math.round(r.dominant_share[name] * 100) + "%)"));
      list.appendChild(item);
    });
    card.appendChild(list);
    if (r.skipped.length) {
      card.appendChild(el("h3", {}, "Skipped"));
      const skipped = el("ul");
      r.skipped.forEach(function (s) { skipped.appendChild(el("li", {}, s.name + ": " + s.error)); });
      card.appendChild(skipped);
    }
    card.appendChild(el("a", { class: "button button-small", href: "/archive/?collection=" + r.collection }, "Open the photos in the archive"));
    box.appendChild(card);
  }

  // Enhancement ---------------------------------------------------------------------------
  function enhance(job) {
    const box = document.getElementById("enhance-result");
    box.hidden = false;
    const pairs = el("div", { class: "pairs" });
    job.result.faces.forEach(function (face, i) {
      const pair = el("section", { class: "card pair" });
      [["before", "Before"], ["after", "After (" + job.result.enhance + ")"]].forEach(function (side) {
        const figure = el("figure");
        figure.appendChild(el("img", { src: root.dataset.files + "face" + i + "-" + side[0], alt: side[1] + ", face " + (i + 1) }));
        figure.appendChild(el("figcaption", {}, side[1]));
        pair.appendChild(figure);
      });
      pair.appendChild(el("p", { class: "small" }, "Face " + (i + 1) + ": " + face.dominant_emotion + " " + Math.round(face.confidence * 100) + "%"));
      pairs.appendChild(pair);
    });
    if (!job.result.faces.length) pairs.appendChild(el("p", { class: "muted" }, "No face was found."));
    box.appendChild(pairs);
    if (job.analysis_id) box.appendChild(el("a", { class: "button button-small", href: "/archive/" + job.analysis_id + "/" }, "Open in the archive"));
  }
})();
