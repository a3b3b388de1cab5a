// The jobs page: submit a job (the upload shows its own progress), then follow it on its page;
// the list's progress bars move with the events of /ws/jobs/.
(function () {
  "use strict";
  const form = document.getElementById("job-form");
  if (!form) return;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const fileInput = document.getElementById("job-file");
  const error = document.getElementById("job-error");
  const submit = document.getElementById("job-submit");
  const uploadBox = form.querySelector(".upload-progress");
  const uploadBar = document.getElementById("upload-progress");

  function kind() {
    return form.querySelector("input[name=kind]:checked").value;
  }

  function showOptions() {
    const chosen = kind();
    form.querySelectorAll("[data-for]").forEach(function (el) {
      el.hidden = el.dataset.for !== chosen;
    });
    fileInput.multiple = chosen === "batch";
    fileInput.accept = {
      video: "video/mp4,video/webm,video/quicktime,.mp4,.webm,.mov,.m4v,.mkv",
      batch: "image/*,.zip",
      enhance: "image/*",
    }[chosen];
  }
  form.querySelectorAll("input[name=kind]").forEach(function (el) {
    el.addEventListener("change", showOptions);
  });
  showOptions();

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    submit.disabled = false;
    uploadBox.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    const files = Array.from(fileInput.files);
    if (!files.length) return fail("Choose a file first.");
    const body = new FormData();
    body.append("kind", kind());
    const chosen = kind();
    if (chosen === "batch" && (files.length > 1 || !/\.zip$/i.test(files[0].name))) {
      files.forEach(function (file) { body.append("files", file); });
    } else {
      body.append("file", files[0]);
    }
    ["fps", "enhance", "name"].forEach(function (name) {
      const field = form.elements[name];
      const holder = field && field.closest("[data-for]");
      if (field && field.value && (!holder || holder.dataset.for === chosen)) body.append(name, field.value);
    });
    if (chosen === "enhance" && form.elements.save.checked) body.append("save", "true");
    submit.disabled = true;
    uploadBox.hidden = false;
    uploadBar.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.api);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) uploadBar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", function () {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202 && answer) {
        window.location.href = form.dataset.jobs + answer.id + "/";
      } else {
        fail((answer && answer.error && answer.error.message) || "The server answered " + xhr.status + ".");
      }
    });
    xhr.addEventListener("error", function () { fail("The upload failed: check the connection and try again."); });
    xhr.send(body);
  });

  // Live progress of the listed jobs: events over /ws/jobs/, and a poll every 3 s while any
  // job is unfinished, in case the socket is down.
  const rows = new Map();
  document.querySelectorAll(".job-row").forEach(function (row) { rows.set(row.dataset.job, row); });
  if (!rows.size) return;
  const FINISHED = ["done", "failed", "cancelled"];

  function update(job) {
    const row = rows.get(String(job.id));
    if (!row) return;
    row.dataset.state = job.state;
    row.querySelector("progress").value = job.progress;
    row.querySelector("[data-field=state]").textContent = job.state.charAt(0).toUpperCase() + job.state.slice(1);
    row.querySelector("[data-field=message]").textContent = job.error || job.message;
  }

  if (window.WebSocket) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/jobs/");
    socket.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "job") update(data.job);
    });
  }
  const poll = setInterval(function () {
    const open = Array.from(rows.values()).some(function (row) { return FINISHED.indexOf(row.dataset.state) < 0; });
    if (!open) { clearInterval(poll); return; }
    fetch(form.dataset.api, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (page) { page.results.forEach(update); })
      .catch(function () {});
  }, 3000);
})();
