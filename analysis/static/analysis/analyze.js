// The analysis page: pick a photo, see its faces, choose some (or draw a box around one the
// detector missed), analyse them, read the charts, save what is shown. The chosen file stays in
// memory, so changing the options re-runs without picking it again.
(function () {
  "use strict";

  const root = document.getElementById("analyzer");
  if (!root || !window.EmotionLens) return;
  const { faceCard, linkedBoxes, copyButton } = window.EmotionLens;

  const $ = (id) => document.getElementById(id);
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const maxBytes = Number(root.dataset.maxBytes);
  // A box drawn by hand must be at least this big, in pixels of the picture.
  const MIN_MARKED = 12;
  const state = {
    file: null, image: null, faces: [], selected: new Set(), marked: [],
    result: null, saved: false, busy: false, modelsReady: root.dataset.modelsReady === "true",
  };

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
    if (message) box.scrollIntoView({ behavior: "smooth", block: "center" });
  }

  let slowTimer = null;
  function setStatus(text, percent) {
    $("status").hidden = !text;
    $("status-text").textContent = text || "";
    const bar = $("progress");
    bar.hidden = percent === undefined;
    if (percent !== undefined) bar.value = percent;
  }

  function setBusy(busy) {
    state.busy = busy;
    $("analyze-button").disabled = busy || selectionSize() === 0;
    $("detector").disabled = busy;
    $("save-button").disabled = busy || state.saved || !state.result;
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
      // The first analysis after the server starts loads the models: say so, and say so again
      // if any step is slow, so that a long wait never looks like a frozen page.
      const working = state.modelsReady
        ? label
        : `${label} The first analysis after the server starts also loads the models (about 15 s).`;
      clearTimeout(slowTimer);
      slowTimer = setTimeout(() => setStatus(`${working} Still working…`), 6000);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) {
          const percent = Math.round((event.loaded / event.total) * 100);
          setStatus(percent < 100 ? `Uploading… ${percent}%` : working, percent < 100 ? percent : undefined);
        }
      };
      xhr.upload.onload = () => setStatus(working);
      const done = () => clearTimeout(slowTimer);
      xhr.onload = () => {
        done();
        const body = xhr.response;
        if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
        else if (body && body.error) reject(new Error(body.error.message));
        else reject(new Error(`The server answered ${xhr.status}. Please try again.`));
      };
      xhr.onerror = () => { done(); reject(new Error("The server could not be reached. Check your connection.")); };
      setStatus(working);
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

  // Results belong to one photo, one detector and one set of faces: any change hides them, so
  // that no result is shown beside face numbers it does not match.
  function clearResults() {
    state.result = null;
    state.saved = false;
    $("results-step").hidden = true;
    $("face-results").replaceChildren();
    $("result-boxes").replaceChildren();
    $("save-status").hidden = true;
  }

  function chooseFile(file) {
    showError("");
    if (!file) return;
    if (file.size > maxBytes) {
      showError(`This file is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${Math.round(maxBytes / 1048576)} MB.`);
      return;
    }
    state.file = file;
    const preview = $("preview");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    $("result-picture").src = preview.src;
    detect();
  }

  async function detect() {
    if (!state.file || state.busy) return;
    clearResults();
    state.marked = [];
    // The boxes belong to the last detection: gone until the new one answers.
    $("boxes").replaceChildren();
    $("face-picks").replaceChildren();
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

  function selectionSize() {
    return state.selected.size + state.marked.length;
  }

  function placeBox(element, [x, y, w, h]) {
    const { width, height } = state.image;
    element.style.left = `${(x / width) * 100}%`;
    element.style.top = `${(y / height) * 100}%`;
    element.style.width = `${(w / width) * 100}%`;
    element.style.height = `${(h / height) * 100}%`;
  }

  function renderFaces() {
    const boxes = $("boxes");
    const picks = $("face-picks");
    boxes.replaceChildren();
    picks.replaceChildren();
    const count = state.faces.length;
    $("faces-summary").textContent = count === 0
      ? "No face was found in this photo. Try the other detector, draw a box around a face, or use a photo where faces are larger."
      : `${count} face${count === 1 ? "" : "s"} found. All are selected; click a box or a checkbox to leave a face out.`;
    for (const face of state.faces) {
      const box = document.createElement("button");
      box.type = "button";
      box.className = "face-box";
      placeBox(box, face.box);
      box.dataset.index = face.index;
      box.setAttribute("aria-label", `Face ${face.index + 1}`);
      const number = document.createElement("span");
      number.textContent = String(face.index + 1);
      box.append(number);
      box.addEventListener("click", () => toggle(face.index));
      boxes.append(box);

      const label = document.createElement("label");
      label.className = "face-pick";
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = String(face.index);
      input.addEventListener("change", () => toggle(face.index));
      label.append(input, ` Face ${face.index + 1}`);
      picks.append(label);
    }
    state.marked.forEach((marked, position) => {
      const box = document.createElement("button");
      box.type = "button";
      box.className = "face-box is-manual is-selected";
      placeBox(box, marked);
      box.setAttribute("aria-label", `Face you marked ${position + 1}: remove it`);
      const number = document.createElement("span");
      number.textContent = `+${position + 1}`;
      box.append(number);
      box.addEventListener("click", () => {
        state.marked.splice(position, 1);
        clearResults();
        renderFaces();
      });
      boxes.append(box);
    });
    syncSelection();
  }

  function toggle(index) {
    if (state.selected.has(index)) state.selected.delete(index);
    else state.selected.add(index);
    syncSelection();
  }

  function syncSelection() {
    for (const box of $("boxes").querySelectorAll(".face-box:not(.is-manual)")) {
      box.classList.toggle("is-selected", state.selected.has(Number(box.dataset.index)));
      box.setAttribute("aria-pressed", String(state.selected.has(Number(box.dataset.index))));
    }
    for (const input of $("face-picks").querySelectorAll("input")) {
      input.checked = state.selected.has(Number(input.value));
    }
    $("analyze-button").disabled = state.busy || selectionSize() === 0;
  }

  // Drawing a box around a face the detector missed: drag on the photo.
  function enableDrawing() {
    const stage = $("stage");
    const drawing = $("drawing");
    let start = null;
    const point = (event) => {
      const rect = $("preview").getBoundingClientRect();
      return {
        x: Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
        y: Math.min(Math.max(event.clientY - rect.top, 0), rect.height),
        rect,
      };
    };
    stage.addEventListener("pointerdown", (event) => {
      if (state.busy || !state.image || event.target.closest(".face-box")) return;
      start = point(event);
      stage.setPointerCapture(event.pointerId);
      drawing.hidden = false;
      Object.assign(drawing.style, { left: `${start.x}px`, top: `${start.y}px`, width: "0px", height: "0px" });
    });
    stage.addEventListener("pointermove", (event) => {
      if (!start) return;
      const now = point(event);
      Object.assign(drawing.style, {
        left: `${Math.min(start.x, now.x)}px`, top: `${Math.min(start.y, now.y)}px`,
        width: `${Math.abs(now.x - start.x)}px`, height: `${Math.abs(now.y - start.y)}px`,
      });
    });
    const finish = (event) => {
      if (!start) return;
      const now = point(event);
      drawing.hidden = true;
      const scale = state.image.width / now.rect.width;
      const box = [
        Math.round(Math.min(start.x, now.x) * scale), Math.round(Math.min(start.y, now.y) * scale),
        Math.round(Math.abs(now.x - start.x) * scale), Math.round(Math.abs(now.y - start.y) * scale),
      ];
      start = null;
      if (box[2] >= MIN_MARKED && box[3] >= MIN_MARKED) {
        state.marked.push(box);
        clearResults();
        renderFaces();
      }
    };
    stage.addEventListener("pointerup", finish);
    stage.addEventListener("pointercancel", () => { start = null; drawing.hidden = true; });
  }

  async function analyse() {
    if (!state.file || state.busy || selectionSize() === 0) return;
    setBusy(true);
    showError("");
    try {
      const passes = $("tta").value;
      const count = selectionSize();
      const enhancing = $("enhance").value !== "none";
      if (enhancing) {
        // Enhancement takes seconds per face: it runs as a job, followed on the job's page.
        const form = new FormData();
        form.append("kind", "enhance");
        form.append("file", state.file);
        form.append("detector", $("detector").value);
        form.append("enhance", $("enhance").value);
        form.append("tta", passes);
        const job = await post(root.dataset.jobsUrl, form, "Starting the enhancement job…");
        window.location.href = `${root.dataset.jobsPage}${job.id}/`;
        return;
      }
      const body = await post(
        root.dataset.analyzeUrl,
        formFor({
          tta: passes,
          faces: [...state.selected].join(","),
          boxes: state.marked.map((box) => box.join(",")).join(";"),
          annotate: "true",
        }),
        enhancing
          ? `Enhancing and analysing ${count} face${count === 1 ? "" : "s"}: tens of seconds per face on this server…`
          : `Analysing ${count} face${count === 1 ? "" : "s"} with ${passes} pass${passes === "1" ? "" : "es"} each…`,
      );
      state.modelsReady = true;
      state.result = body;
      state.saved = false;
      renderResults(body);
    } catch (error) {
      showError(error.message);
    } finally {
      setStatus("");
      setBusy(false);
    }
  }

  function resultJson() {
    const json = { ...state.result };
    delete json.annotated_image;
    return json;
  }

  function renderResults(body) {
    $("annotated").src = body.annotated_image;
    $("download-image").href = body.annotated_image;
    const link = $("download-json");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([JSON.stringify(resultJson(), null, 2)], { type: "application/json" }));
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

    const cards = $("face-results");
    const picture = $("preview");
    cards.replaceChildren(...body.faces.map((face) => faceCard(face, { image: picture, size: body.image })));
    linkedBoxes($("result-boxes"), body.faces, body.image, cards);
    $("curl-command").textContent = curlFor(body);
    $("save-status").hidden = true;
    $("results-step").hidden = false;
    $("results-step").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function curlFor(body) {
    const url = new URL(root.dataset.analyzeUrl, window.location.href).href;
    const name = state.file && state.file.name ? state.file.name.replace(/[^\w.-]/g, "_") : "photo.jpg";
    const parts = [`curl -H "Authorization: Token $KEY"`, `-F image=@${name}`,
      `-F detector=${$("detector").value}`, `-F tta=${body.passes}`];
    if ($("enhance").value !== "none") parts.push(`-F enhance=${$("enhance").value}`);
    if (state.marked.length) parts.push(`-F boxes='${state.marked.map((box) => box.join(",")).join(";")}'`);
    parts.push(url);
    return parts.join(" \\\n  ");
  }

  // Saving stores what is on the screen: the picture and the result shown, not a new run.
  async function save(event) {
    event.preventDefault();
    if (!state.result || state.busy || state.saved) return;
    setBusy(true);
    showError("");
    const status = $("save-status");
    status.hidden = true;
    try {
      const form = new FormData();
      form.append("image", state.file);
      form.append("result", JSON.stringify(resultJson()));
      form.append("name", $("save-name").value);
      form.append("keep_image", $("save-keep").checked ? "true" : "false");
      const body = await post(root.dataset.saveUrl, form, "Saving…");
      state.saved = true;
      $("save-name").value = "";
      const link = document.createElement("a");
      link.href = `${root.dataset.archiveUrl}${body.id}/`;
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
  $("enhance").addEventListener("change", clearResults);
  $("tta").addEventListener("input", (event) => { $("tta-value").textContent = event.target.value; });
  $("analyze-button").addEventListener("click", analyse);
  $("save-form").addEventListener("submit", save);
  copyButton($("copy-json"), () => JSON.stringify(resultJson(), null, 2));
  enableDrawing();
})();
