// The analysis page: pick a photo, see its faces, choose some, analyse them, read the charts.
// The chosen file stays in memory, so changing the options re-runs without picking it again.
(function () {
  "use strict";

  const EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];
  const root = document.getElementById("analyzer");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const maxBytes = Number(root.dataset.maxBytes);
  const state = { file: null, faces: [], selected: new Set(), image: null, result: null, busy: false };

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function setStatus(text, percent) {
    $("status").hidden = !text;
    $("status-text").textContent = text || "";
    const bar = $("progress");
    bar.hidden = percent === undefined;
    if (percent !== undefined) bar.value = percent;
  }

  function setBusy(busy) {
    state.busy = busy;
    $("analyze-button").disabled = busy || state.selected.size === 0;
    $("detector").disabled = busy;
    root.classList.toggle("is-busy", busy);
  }

  // XMLHttpRequest rather than fetch: it reports upload progress for large photos.
  function post(url, form, label) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "json";
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) {
          const percent = Math.round((event.loaded / event.total) * 100);
          setStatus(percent < 100 ? `Uploading… ${percent}%` : label, percent < 100 ? percent : undefined);
        }
      };
      xhr.upload.onload = () => setStatus(label);
      xhr.onload = () => {
        const body = xhr.response;
        if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
        else if (body && body.error) reject(new Error(body.error.message));
        else reject(new Error(`The server answered ${xhr.status}. Please try again.`));
      };
      xhr.onerror = () => reject(new Error("The server could not be reached. Check your connection."));
      setStatus(label);
      xhr.send(form);
    });
  }

  function formFor(extra) {
    const form = new FormData();
    form.append("image", state.file);
    form.append("detector", $("detector").value);
    form.append("enhance", $("enhance").value);
    for (const [key, value] of Object.entries(extra || {})) form.append(key, value);
    return form;
  }

  function chooseFile(file) {
    showError("");
    if (!file) return;
    if (file.size > maxBytes) {
      showError(`This file is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${Math.round(maxBytes / 1048576)} MB.`);
      return;
    }
    state.file = file;
    state.result = null;
    $("results-step").hidden = true;
    const preview = $("preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    detect();
  }

  async function detect() {
    if (!state.file || state.busy) return;
    setBusy(true);
    showError("");
    try {
      const body = await post(root.dataset.detectUrl, formFor(), "Finding faces…");
      state.image = body.image;
      state.faces = body.faces;
      state.selected = new Set(body.faces.map((face) => face.index));
      renderFaces();
      $("faces-step").hidden = false;
    } catch (error) {
      $("faces-step").hidden = true;
      showError(error.message);
    } finally {
      setStatus("");
      setBusy(false);
    }
  }

  function renderFaces() {
    const boxes = $("boxes");
    const picks = $("face-picks");
    boxes.replaceChildren();
    picks.replaceChildren();
    const { width, height } = state.image;
    const count = state.faces.length;
    $("faces-summary").textContent = count === 0
      ? "No face was found in this photo. Try the other detector, or a photo where faces are larger."
      : `${count} face${count === 1 ? "" : "s"} found. All are selected; click a box or a checkbox to leave a face out.`;
    for (const face of state.faces) {
      const [x, y, w, h] = face.box;
      const box = document.createElement("button");
      box.type = "button";
      box.className = "face-box";
      box.style.left = `${(x / width) * 100}%`;
      box.style.top = `${(y / height) * 100}%`;
      box.style.width = `${(w / width) * 100}%`;
      box.style.height = `${(h / height) * 100}%`;
      box.dataset.index = face.index;
      box.setAttribute("aria-label", `Face ${face.index + 1}`);
      box.innerHTML = `<span>${face.index + 1}</span>`;
      box.addEventListener("click", () => toggle(face.index));
      boxes.append(box);

      const label = document.createElement("label");
      label.className = "face-pick";
      label.innerHTML = `<input type="checkbox" value="${face.index}"> Face ${face.index + 1}`;
      label.querySelector("input").addEventListener("change", () => toggle(face.index));
      picks.append(label);
    }
    syncSelection();
  }

  function toggle(index) {
    if (state.selected.has(index)) state.selected.delete(index);
    else state.selected.add(index);
    syncSelection();
  }

  function syncSelection() {
    for (const box of $("boxes").children) {
      box.classList.toggle("is-selected", state.selected.has(Number(box.dataset.index)));
      box.setAttribute("aria-pressed", String(state.selected.has(Number(box.dataset.index))));
    }
    for (const input of $("face-picks").querySelectorAll("input")) {
      input.checked = state.selected.has(Number(input.value));
    }
    $("analyze-button").disabled = state.busy || state.selected.size === 0;
  }

  async function analyse() {
    if (!state.file || state.busy || state.selected.size === 0) return;
    setBusy(true);
    showError("");
    try {
      const passes = $("tta").value;
      const count = state.selected.size;
      const enhancing = $("enhance").value !== "none";
      const body = await post(
        root.dataset.analyzeUrl,
        formFor({ tta: passes, faces: [...state.selected].join(","), annotate: "true" }),
        enhancing
          ? `Enhancing and analysing ${count} face${count === 1 ? "" : "s"}: about ${count * 4} seconds…`
          : `Analysing ${count} face${count === 1 ? "" : "s"} with ${passes} pass${passes === "1" ? "" : "es"} each…`,
      );
      state.result = body;
      renderResults(body);
    } catch (error) {
      showError(error.message);
    } finally {
      setStatus("");
      setBusy(false);
    }
  }

  function percent(value) {
    return `${(value * 100).toFixed(1)}%`;
  }

  function renderResults(body) {
    $("annotated").src = body.annotated_image;
    $("download-image").href = body.annotated_image;
    const json = { ...body };
    delete json.annotated_image;
    const link = $("download-json");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([JSON.stringify(json, null, 2)], { type: "application/json" }));
    const total = Object.values(body.timings_ms).reduce((a, b) => a + b, 0);
    $("result-meta").textContent =
      `${body.image.width}×${body.image.height} px · detector ${body.detector} · ${body.passes} passes · ${Math.round(total)} ms`;

    const notes = $("notes");
    notes.replaceChildren(...body.notes.map((note) => {
      const li = document.createElement("li");
      li.className = "message message-warning";
      li.textContent = note;
      return li;
    }));

    const container = $("face-results");
    container.replaceChildren(...body.faces.map(renderFace));
    $("save-status").hidden = true;
    $("results-step").hidden = false;
    $("results-step").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function renderFace(face) {
    const card = document.createElement("article");
    card.className = "card face-result";
    card.dataset.face = face.index;
    const uncertain = face.quality.verdict === "uncertain";
    const rows = EMOTIONS.map((name) => {
      const p = face.emotions[name];
      const s = face.spread[name];
      const low = Math.max(0, p - s);
      const high = Math.min(1, p + s);
      return `<div class="bar-row${name === face.dominant_emotion ? " is-dominant" : ""}">
        <span class="bar-label">${name}</span>
        <span class="bar-track" role="img" aria-label="${name} ${percent(p)}, spread ±${percent(s)}">
          <span class="bar-fill" style="width:${p * 100}%;background:var(--${name})"></span>
          <span class="bar-spread" style="left:${low * 100}%;width:${(high - low) * 100}%"></span>
        </span>
        <span class="bar-value">${percent(p)}</span>
      </div>`;
    }).join("");
    const reasons = face.quality.reasons.map((r) => `<li>${r}</li>`).join("");
    card.innerHTML = `
      <header class="face-head">
        <h3>Face ${face.index + 1}</h3>
        <span class="badge ${uncertain ? "badge-warn" : "badge-ok"}">${uncertain ? "uncertain" : "reliable"}</span>
      </header>
      <p class="dominant"><span class="swatch" style="background:var(--${face.dominant_emotion})"></span>
        <strong>${face.dominant_emotion}</strong> · confidence ${percent(face.confidence)}
        · ${Math.round(face.agreement * 100)}% of passes agree</p>
      <div class="bars">${rows}</div>
      ${reasons ? `<ul class="reasons small">${reasons}</ul>` : ""}`;
    return card;
  }

  // Saving runs the same analysis once more with save=true: the page keeps the file, not the
  // server, so nothing is stored unless the person asks for it.
  async function save(event) {
    event.preventDefault();
    if (!state.result || state.busy) return;
    setBusy(true);
    showError("");
    const status = $("save-status");
    status.hidden = true;
    try {
      const body = await post(
        root.dataset.analyzeUrl,
        formFor({
          tta: String(state.result.passes),
          faces: state.result.faces.map((face) => face.index).join(","),
          save: "true",
          name: $("save-name").value,
          keep_image: $("save-keep").checked ? "true" : "false",
        }),
        "Saving…",
      );
      const link = document.createElement("a");
      link.href = `${root.dataset.archiveUrl}${body.analysis_id}/`;
      link.textContent = `“${body.name}”`;
      status.replaceChildren("Saved as ", link, " in your archive.");
      status.hidden = false;
    } catch (error) {
      showError(error.message);
    } finally {
      setStatus("");
      setBusy(false);
    }
  }

  // Wiring.
  $("image-input").addEventListener("change", (event) => chooseFile(event.target.files[0]));
  const zone = $("dropzone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("is-over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("is-over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) chooseFile(event.dataTransfer.files[0]);
  });
  $("detector").addEventListener("change", detect);
  $("tta").addEventListener("input", (event) => { $("tta-value").textContent = event.target.value; });
  $("analyze-button").addEventListener("click", analyse);
  $("save-form").addEventListener("submit", save);
})();
