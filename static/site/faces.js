// One rendering of a face's result, for every page that shows one (the analysis page, a saved
// analysis): the face's crop, the dominant emotion, the 7 bars with their spread across passes,
// the agreement, the verdict and its reasons. And a picture with numbered boxes that light up
// together with their card.
(function () {
  "use strict";

  const EMOTIONS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"];

  function percent(value) {
    return `${(value * 100).toFixed(1)}%`;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A canvas with the face cut out of the picture, with a little margin around it. ``scale``
  // maps the result's pixels to the <img>'s (a very large JPEG is analysed at a fraction).
  function crop(image, box, size, scale) {
    const canvas = el("canvas", "face-crop");
    canvas.width = size;
    canvas.height = size;
    const [x, y, w, h] = box.map((value) => value * scale);
    const side = Math.max(w, h) * 1.2;
    const cx = x + w / 2;
    const cy = y + h / 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#e2e5ee";
    ctx.fillRect(0, 0, size, size);
    ctx.drawImage(image, cx - side / 2, cy - side / 2, side, side, 0, 0, size, size);
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "The face");
    return canvas;
  }

  // ``options.image``: a loaded <img> of the picture (for the crop), or null; ``options.size``:
  // the size of the picture the boxes are in (the result's ``image``).
  function faceCard(face, options) {
    const card = el("article", "card face-result");
    card.dataset.face = String(face.index);
    const uncertain = face.quality.verdict === "uncertain";

    const head = el("header", "face-head");
    if (options && options.image) {
      const scale = options.size ? options.image.naturalWidth / options.size.width : 1;
      head.append(crop(options.image, face.box, 72, scale));
    }
    const title = el("div", "face-title");
    const h3 = el("h3", "", `Face ${face.index + 1}`);
    if (face.found_by === "manual") h3.append(el("span", "muted small", " (marked by hand)"));
    // With identity features on, the API names the face among the user's people.
    if (face.person) h3.append(el("span", "person-name", ` · ${face.person.name}`));
    else if (face.person === null) h3.append(el("span", "muted small person-name", " · not recognised"));
    title.append(h3);
    const dominant = el("p", "dominant");
    const swatch = el("span", "swatch");
    swatch.style.background = `var(--${face.dominant_emotion})`;
    dominant.append(swatch, el("strong", "", face.dominant_emotion), ` ${percent(face.confidence)}`);
    const agreement = el("p", "muted small agreement",
      `${Math.round(face.agreement * 100)}% of the passes agree`);
    title.append(dominant, agreement);
    // With identity features on, a weak signal of whether the face was photographed live.
    if (face.liveness) {
      const live = face.liveness.live;
      const signal = el("p", `muted small liveness${live ? "" : " is-replica"}`,
        `Liveness signal: ${live ? "looks live" : "may be a photo of a picture"} (${face.liveness.score.toFixed(2)})`);
      signal.title = "A weak signal with known error rates (README, \"Liveness\"), never proof.";
      title.append(signal);
    }
    head.append(title, el("span", `badge ${uncertain ? "badge-warn" : "badge-ok"}`, face.quality.verdict));
    card.append(head);

    const bars = el("div", "bars");
    for (const name of EMOTIONS) {
      const p = face.emotions[name];
      const s = face.spread[name];
      const low = Math.max(0, p - s);
      const high = Math.min(1, p + s);
      const row = el("div", `bar-row${name === face.dominant_emotion ? " is-dominant" : ""}`);
      const track = el("span", "bar-track");
      track.setAttribute("role", "img");
      track.setAttribute("aria-label", `${name} ${percent(p)}, spread ±${percent(s)}`);
      const fill = el("span", "bar-fill");
      fill.style.width = `${p * 100}%`;
      fill.style.background = `var(--${name})`;
      const spread = el("span", "bar-spread");
      spread.style.left = `${low * 100}%`;
      spread.style.width = `${(high - low) * 100}%`;
      track.append(fill, spread);
      row.append(el("span", "bar-label", name), track, el("span", "bar-value", percent(p)));
      bars.append(row);
    }
    card.append(bars);
    if (face.quality.reasons.length) {
      const reasons = el("ul", "reasons small");
      for (const reason of face.quality.reasons) reasons.append(el("li", "", reason));
      card.append(reasons);
    }
    return card;
  }

  // Numbered boxes over a picture; each box and its card light up together on hover or focus.
  function linkedBoxes(layer, faces, size, cards) {
    layer.replaceChildren();
    const byIndex = new Map();
    for (const face of faces) {
      const [x, y, w, h] = face.box;
      const box = el("span", "result-box");
      box.style.left = `${(x / size.width) * 100}%`;
      box.style.top = `${(y / size.height) * 100}%`;
      box.style.width = `${(w / size.width) * 100}%`;
      box.style.height = `${(h / size.height) * 100}%`;
      box.style.borderColor = `var(--${face.dominant_emotion})`;
      box.dataset.face = String(face.index);
      box.append(el("span", "", String(face.index + 1)));
      layer.append(box);
      byIndex.set(String(face.index), box);
    }
    const light = (index, on) => {
      const box = byIndex.get(index);
      if (box) box.classList.toggle("is-lit", on);
      const card = cards.querySelector(`[data-face="${index}"]`);
      if (card) card.classList.toggle("is-lit", on);
    };
    for (const [index, box] of byIndex) {
      box.addEventListener("mouseenter", () => light(index, true));
      box.addEventListener("mouseleave", () => light(index, false));
    }
    for (const card of cards.querySelectorAll("[data-face]")) {
      const index = card.dataset.face;
      card.tabIndex = 0;
      for (const [on, events] of [[true, ["mouseenter", "focus"]], [false, ["mouseleave", "blur"]]]) {
        for (const type of events) card.addEventListener(type, () => light(index, on));
      }
    }
  }

  // Copy text to the clipboard, saying so on the button for a moment.
  function copyButton(button, text) {
    button.addEventListener("click", async () => {
      const value = typeof text === "function" ? text() : text;
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(value);
        button.textContent = "Copied";
      } catch (error) {
        button.textContent = "Select and copy it";
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  }

  window.EmotionLens = { EMOTIONS, percent, faceCard, linkedBoxes, copyButton };

  // A saved analysis: its page embeds the faces as JSON and the picture, and draws them here.
  const saved = document.getElementById("saved-faces");
  if (saved) {
    const faces = JSON.parse(saved.textContent);
    const cards = document.getElementById("face-results");
    const picture = document.getElementById("saved-picture");
    const draw = () => {
      const image = picture && picture.complete && picture.naturalWidth ? picture : null;
      cards.replaceChildren(...faces.map((face) => faceCard(face, { image, size: null })));
      if (image) {
        linkedBoxes(document.getElementById("saved-boxes"), faces,
          { width: picture.naturalWidth, height: picture.naturalHeight }, cards);
      }
    };
    if (picture && !picture.complete) picture.addEventListener("load", draw);
    draw();
  }
  for (const button of document.querySelectorAll("[data-copy-from]")) {
    copyButton(button, () => document.getElementById(button.dataset.copyFrom).textContent.trim());
  }
})();
