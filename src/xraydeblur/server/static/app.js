/* xraydeblur web page: upload, deblur through the REST API, compare before/after.
 *
 * The API answers JSON with the pixels of both images as little-endian uint16 on the
 * image's own scale (0 .. 2**bits - 1), so window/level works on the full bit depth;
 * canvases only ever see the windowed 8-bit rendering.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    fileInput: $("file-input"), dropzone: $("dropzone"), fileName: $("file-name"), formatHint: $("format-hint"),
    method: $("method-select"), sigma: $("sigma-input"), run: $("run-button"),
    blurKind: $("blur-kind"), blurSizeLabel: $("blur-size-label"), angleField: $("angle-field"), angle: $("angle-input"),
    sizeField: $("size-field"), psfField: $("psf-field"), psfInput: $("psf-input"), psfName: $("psf-name"),
    progress: $("progress"), progressBar: $("progress-bar"), progressText: $("progress-text"), error: $("error"),
    wlWidth: $("wl-width"), wlCenter: $("wl-center"), wlWidthValue: $("wl-width-value"), wlCenterValue: $("wl-center-value"),
    wlReset: $("wl-reset"), viewReset: $("view-reset"),
    viewer: $("viewer"), before: $("canvas-before"), after: $("canvas-after"), handle: $("split-handle"),
    tagBefore: $("tag-before"), tagAfter: $("tag-after"), empty: $("empty-state"),
    factMethod: $("fact-method"), factTime: $("fact-time"), factBlur: $("fact-blur"), factSharp: $("fact-sharpness"),
    factImage: $("fact-image"), factSafeguard: $("fact-safeguard"),
    downloadPng: $("download-png"), downloadDicom: $("download-dicom"),
  };
  const modeButtons = Array.from(document.querySelectorAll(".seg[data-mode]"));

  const state = {
    file: null, psf: null, busy: false, limits: null, result: null,
    w: 0, h: 0, vmax: 255, beforePx: null, afterPx: null,
    offBefore: null, offAfter: null,
    win: { center: 128, width: 256 }, defaultWin: { center: 128, width: 256 },
    view: { scale: 1, ox: 0, oy: 0 }, fitted: true, split: 0.5, mode: "split",
  };

  // ---------- API ----------
  async function loadModels() {
    try {
      const response = await fetch("/api/v1/models", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const info = await response.json();
      state.limits = info.limits || null;
      el.method.textContent = "";
      if (info.methods.length) {
        // "automatic": the server picks the default, or the kernel-aware network when the blur is given
        const auto = new Option(`automatic: ${info.default}, kernel-aware with a known blur`, "", true, true);
        auto.title = "Let the server choose the best method for what is known about the blur";
        el.method.append(auto);
      }
      for (const m of info.methods) {
        const option = document.createElement("option");
        option.value = m.name;
        option.textContent = m.name + (m.version ? ` (${m.version})` : "") + (m.default ? " — default" : "");
        option.title = m.description || "";
        el.method.append(option);
      }
      if (!info.methods.length) {
        el.method.append(new Option("no method available", ""));
        showError("The server has no deblurring method available.");
      }
      el.method.disabled = !info.methods.length;
      if (state.limits) {
        el.formatHint.textContent = `DICOM, PNG, JPEG, TIFF · ≤ ${Math.round(state.limits.max_upload_bytes / 1e6)} MB`;
      }
    } catch (err) {
      el.method.textContent = "";
      el.method.append(new Option("unavailable", ""));
      showError(`Could not load the list of methods (${err.message}).`);
    }
    updateRunButton();
  }

  function updateRunButton() {
    el.run.disabled = !state.file || state.busy || el.method.disabled;
  }

  function showError(message, status) {
    el.error.textContent = "";
    if (status) {
      const strong = document.createElement("strong");
      strong.textContent = `Error ${status}: `;
      el.error.append(strong);
    }
    el.error.append(document.createTextNode(message));
    el.error.hidden = false;
  }
  function clearError() { el.error.hidden = true; el.error.textContent = ""; }

  function setProgress(text, percent) {
    el.progress.hidden = false;
    el.progressText.textContent = text;
    if (percent === null) el.progressBar.removeAttribute("value");
    else el.progressBar.value = percent;
  }

  function chooseFile(file) {
    if (!file) return;
    state.file = file;
    el.fileName.textContent = `${file.name} · ${(file.size / 1e6).toFixed(2)} MB`;
    clearError();
    if (state.limits && file.size > state.limits.max_upload_bytes) {
      showError(`The file is ${(file.size / 1e6).toFixed(1)} MB; the server accepts at most ${(state.limits.max_upload_bytes / 1e6).toFixed(0)} MB.`, 413);
      state.file = null;
      updateRunButton();
      return;
    }
    updateRunButton();
    runDeblur();
  }

  // the known-blur families the page offers: query parameter, its name and upper bound (px)
  const BLUR_KINDS = {
    gaussian: { param: "sigma", name: "σ", max: 50 },
    motion: { param: "length", name: "length", max: 128 },
    disk: { param: "radius", name: "radius", max: 64 },
  };

  // a measured PSF file stays in the browser's memory until it is sent with the image
  const MAX_PSF_BYTES = 4 * 1024 * 1024;

  function updateBlurKind() {
    const measured = el.blurKind.value === "psf";
    el.sizeField.hidden = measured;
    el.psfField.hidden = !measured;
    el.angleField.hidden = el.blurKind.value !== "motion";
    if (measured) return;
    const blur = BLUR_KINDS[el.blurKind.value];
    el.blurSizeLabel.textContent = `${blur.name} in px`;
    el.sigma.max = String(blur.max);
  }
  el.blurKind.addEventListener("change", updateBlurKind);

  el.psfInput.addEventListener("change", () => {
    const file = el.psfInput.files && el.psfInput.files[0];
    state.psf = null;
    el.psfName.textContent = "";
    if (!file) return;
    if (file.size > MAX_PSF_BYTES) {
      showError(`The PSF file is ${(file.size / 1e6).toFixed(1)} MB; a PSF is a small kernel (at most ${MAX_PSF_BYTES / 1e6 | 0} MB).`);
      el.psfInput.value = "";
      return;
    }
    clearError();
    state.psf = file;
    el.psfName.textContent = `${file.name} (${(file.size / 1024).toFixed(1)} KB)`;
  });

  // the request's query parameters and, for a measured PSF, the form fields; null after an error
  function blurRequest(params) {
    if (el.blurKind.value === "psf") {
      if (!state.psf) { showError("Choose a PSF file (.npy or 16-bit PNG), or pick another kind of blur."); return null; }
      const form = new FormData();
      form.append("file", state.file, state.file.name || "image");
      form.append("psf", state.psf, state.psf.name || "psf");
      return form;
    }
    const sizeText = el.sigma.value.trim();
    if (sizeText) {
      const blur = BLUR_KINDS[el.blurKind.value];
      const size = Number(sizeText);
      if (!(size > 0 && size <= blur.max)) { showError(`Known blur ${blur.name} must be a number above 0 and at most ${blur.max} px (or empty).`); return null; }
      if (el.blurKind.value !== "gaussian") params.set("kernel", el.blurKind.value);
      params.set(blur.param, String(size));
      if (el.blurKind.value === "motion") {
        const angle = Number(el.angle.value.trim() || "0");
        if (!Number.isFinite(angle)) { showError("Motion angle must be a number of degrees."); return null; }
        params.set("angle", String(angle));
      }
    }
    return state.file;
  }

  function runDeblur() {
    if (!state.file || state.busy) return;
    const params = new URLSearchParams({ format: "json", pixels: "true" });
    if (el.method.value) params.set("method", el.method.value);
    const body = blurRequest(params);
    if (body === null) return;
    clearError();
    state.busy = true;
    updateRunButton();
    setProgress("Uploading… 0%", 0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/deblur?${params}`);
    xhr.setRequestHeader("Accept", "application/json");
    // a FormData body sets its own multipart Content-Type (with the boundary)
    if (!(body instanceof FormData)) xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        const pct = Math.round((100 * event.loaded) / event.total);
        setProgress(`Uploading… ${pct}%`, pct);
      }
    };
    xhr.upload.onload = () => setProgress("Processing…", null);
    xhr.onload = () => {
      state.busy = false;
      updateRunButton();
      el.progress.hidden = true;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      if (xhr.status === 200 && body) {
        try { showResult(body); } catch (err) { showError(`Could not display the result (${err.message}).`); }
      } else {
        const detail = body && typeof body.detail === "string" ? body.detail : (xhr.statusText || "request failed");
        const retry = xhr.getResponseHeader("Retry-After");
        showError(detail + (retry ? ` (retry in ${retry} s)` : ""), xhr.status || undefined);
      }
    };
    xhr.onerror = () => {
      state.busy = false;
      updateRunButton();
      el.progress.hidden = true;
      showError("Network error: the server could not be reached.");
    };
    xhr.send(body);
  }

  // ---------- decoding ----------
  function base64ToBytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  function base64ToU16(text, count) {
    const bytes = base64ToBytes(text);
    if (bytes.length !== count * 2) throw new Error("pixel data has the wrong length");
    const out = new Uint16Array(count);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true);
    return out;
  }

  // ---------- rendering ----------
  function autoWindow(pixels, vmax) {
    const hist = new Uint32Array(vmax + 1);
    for (let i = 0; i < pixels.length; i++) hist[pixels[i]]++;
    const lowCount = pixels.length * 0.005, highCount = pixels.length * 0.995;
    let acc = 0, lo = 0, hi = vmax;
    for (let v = 0; v <= vmax; v++) { acc += hist[v]; if (acc >= lowCount) { lo = v; break; } }
    acc = 0;
    for (let v = 0; v <= vmax; v++) { acc += hist[v]; if (acc >= highCount) { hi = v; break; } }
    if (hi <= lo) { lo = 0; hi = vmax; }
    return { center: Math.round((lo + hi) / 2), width: Math.max(1, hi - lo + 1) };
  }

  function makeOffscreen() {
    const canvas = document.createElement("canvas");
    canvas.width = state.w;
    canvas.height = state.h;
    return canvas;
  }

  function renderWindowed() {
    if (!state.beforePx) return;
    const { center, width } = state.win;
    const lut = new Uint32Array(state.vmax + 1);
    const lo = center - width / 2;
    for (let v = 0; v <= state.vmax; v++) {
      let g = Math.round(((v - lo) / width) * 255);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      lut[v] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    for (const [pixels, canvas] of [[state.beforePx, state.offBefore], [state.afterPx, state.offAfter]]) {
      const ctx = canvas.getContext("2d");
      const image = ctx.createImageData(state.w, state.h);
      const out = new Uint32Array(image.data.buffer);
      for (let i = 0; i < pixels.length; i++) out[i] = lut[pixels[i]];
      ctx.putImageData(image, 0, 0);
    }
    el.wlWidth.value = String(Math.round(width));
    el.wlCenter.value = String(Math.round(center));
    el.wlWidthValue.textContent = String(Math.round(width));
    el.wlCenterValue.textContent = String(Math.round(center));
    draw();
  }

  function canvasSize() {
    const rect = el.viewer.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    return { cssW: rect.width, cssH: rect.height, dpr };
  }

  function resizeCanvases() {
    const { cssW, cssH, dpr } = canvasSize();
    for (const canvas of [el.before, el.after]) {
      const w = Math.max(1, Math.round(cssW * dpr)), h = Math.max(1, Math.round(cssH * dpr));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    }
  }

  function fitView() {
    const { cssW, cssH } = canvasSize();
    if (!state.w) return;
    const scale = Math.min(cssW / state.w, cssH / state.h) * 0.98;
    state.view = { scale, ox: (cssW - state.w * scale) / 2, oy: (cssH - state.h * scale) / 2 };
    state.fitted = true;
  }

  function draw() {
    resizeCanvases();
    const { cssW, cssH, dpr } = canvasSize();
    const { scale, ox, oy } = state.view;
    const splitX = state.split * cssW;
    const paint = (canvas, source, clipLeft) => {
      const ctx = canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (!source) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (clipLeft !== null) {
        if (clipLeft >= cssW) return;
        ctx.save();
        ctx.beginPath();
        ctx.rect(clipLeft, 0, cssW - clipLeft, cssH);
        ctx.clip();
      }
      ctx.imageSmoothingEnabled = scale < 1;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(source, ox, oy, state.w * scale, state.h * scale);
      if (clipLeft !== null) ctx.restore();
    };
    const mode = state.mode;
    paint(el.before, state.offBefore, null);
    if (mode === "before") paint(el.after, null, null);
    else paint(el.after, state.offAfter, mode === "split" ? splitX : null);

    const ready = Boolean(state.beforePx);
    el.handle.hidden = !ready || mode !== "split";
    el.handle.style.left = `${(state.split * 100).toFixed(3)}%`;
    const pct = Math.round(state.split * 100);
    el.handle.setAttribute("aria-valuenow", String(pct));
    el.handle.setAttribute("aria-valuetext", `${pct} percent: before on the left, after on the right`);
    el.tagBefore.hidden = !ready || mode === "after";
    el.tagAfter.hidden = !ready || mode === "before";
    el.tagBefore.textContent = mode === "split" ? "◀ Before" : "Before";
    el.tagAfter.textContent = mode === "split" ? "After ▶" : "After";
    el.tagAfter.classList.toggle("tag-left", mode === "after");
    el.tagAfter.classList.toggle("tag-right", mode !== "after");
    el.viewer.dataset.mode = mode;
  }

  function setMode(mode) {
    state.mode = mode;
    for (const button of modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    draw();
  }

  function setSplit(value) {
    state.split = Math.min(1, Math.max(0, value));
    if (state.mode !== "split") setMode("split");
    else draw();
  }

  function setWindow(center, width) {
    state.win = {
      center: Math.min(state.vmax, Math.max(0, center)),
      width: Math.min(state.vmax + 1, Math.max(1, width)),
    };
    renderWindowed();
  }

  function zoomAt(factor, cx, cy) {
    const v = state.view;
    const fit = Math.min(canvasSize().cssW / state.w, canvasSize().cssH / state.h);
    const scale = Math.min(fit * 64, Math.max(fit * 0.25, v.scale * factor));
    const f = scale / v.scale;
    state.view = { scale, ox: cx - (cx - v.ox) * f, oy: cy - (cy - v.oy) * f };
    state.fitted = false;
    draw();
  }

  function resetView() {
    state.split = 0.5;
    fitView();
    setMode("split");
  }

  // ---------- result ----------
  function fmt(value, digits = 3) {
    return typeof value === "number" && isFinite(value) ? value.toPrecision(digits) : "n/a";
  }

  function showSafeguard(report) {
    el.factSafeguard.textContent = "";
    if (!report || typeof report !== "object") { el.factSafeguard.textContent = "not available"; return; }
    let status = typeof report.status === "string" ? report.status : typeof report.verdict === "string" ? report.verdict : null;
    for (const key of ["ok", "passed", "consistent"]) {
      if (status === null && typeof report[key] === "boolean") status = report[key] ? "passed" : "failed";
    }
    const chip = document.createElement("span");
    const good = /^(ok|pass|passed|consistent|good)$/i.test(status || "");
    const bad = /^(fail|failed|inconsistent|warn|warning|error|bad)$/i.test(status || "");
    chip.className = `chip ${good ? "ok" : bad ? "bad" : "neutral"}`;
    chip.textContent = status || "report";
    el.factSafeguard.append(chip);
    const details = [];
    for (const [key, value] of Object.entries(report)) {
      if (["status", "verdict", "ok", "passed", "consistent"].includes(key)) continue;
      if (typeof value === "number") details.push(`${key} ${fmt(value)}`);
      else if (typeof value === "string" && value.length < 60) details.push(`${key}: ${value}`);
      if (details.length >= 2) break;
    }
    if (details.length) el.factSafeguard.append(document.createTextNode(" " + details.join(", ")));
    if (typeof report.overlay_px === "number" && report.overlay_px > 0) {
      const note = document.createElement("div");
      note.className = "overlay-note";
      note.textContent = `burned-in text/markers kept unchanged (${report.overlay_px} px)`;
      el.factSafeguard.append(note);
    }
    el.factSafeguard.title = JSON.stringify(report, null, 1);
  }

  function showResult(body) {
    const count = body.width * body.height;
    state.result = body;
    state.w = body.width;
    state.h = body.height;
    state.vmax = body.value_max;
    state.beforePx = base64ToU16(body.before_u16, count);
    state.afterPx = base64ToU16(body.after_u16, count);
    state.offBefore = makeOffscreen();
    state.offAfter = makeOffscreen();
    state.defaultWin = autoWindow(state.beforePx, state.vmax);
    state.win = { ...state.defaultWin };
    el.wlWidth.max = String(state.vmax + 1);
    el.wlCenter.max = String(state.vmax);
    for (const control of [el.wlWidth, el.wlCenter, el.wlReset, el.viewReset, el.downloadPng]) control.disabled = false;
    el.downloadDicom.hidden = !body.result_dicom;
    el.empty.hidden = true;

    el.factMethod.textContent = body.method + (body.method_version ? ` ${body.method_version}` : "");
    el.factTime.textContent = `${fmt(body.seconds)} s` + (body.queue_seconds > 0.05 ? ` (+${fmt(body.queue_seconds, 2)} s queued)` : "");
    const psf = body.psf_identified;
    const psfNote = psf && psf.label ? ` (identified ${psf.label}${psf.trusted ? "" : ", not trusted: blind"})` : "";
    el.factBlur.textContent = `${fmt(body.estimated_blur_before)} → ${fmt(body.estimated_blur_after)} px` + (body.kernel ? ` (given ${body.kernel})` : psfNote);
    el.factSharp.textContent = `${fmt(body.sharpness_before)} → ${fmt(body.sharpness_after)}`;
    el.factImage.textContent = `${body.width}×${body.height}, ${body.bits}-bit ${String(body.input_format).toUpperCase()}`;
    showSafeguard(body.safeguard);

    state.split = 0.5;
    fitView();
    state.mode = "split";
    for (const button of modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === "split"));
    renderWindowed();
    el.viewer.dataset.ready = "true";
  }

  function download(base64, type, suffix) {
    const blob = new Blob([base64ToBytes(base64)], { type });
    const url = URL.createObjectURL(blob);
    const stem = (state.file ? state.file.name : "radiograph").replace(/\.[^.]+$/, "");
    const link = document.createElement("a");
    link.href = url;
    link.download = `${stem}_deblurred${suffix}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---------- pointer, wheel, keys ----------
  let drag = null;

  function localPoint(event) {
    const rect = el.viewer.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top, w: rect.width };
  }

  el.viewer.addEventListener("contextmenu", (event) => event.preventDefault());
  el.viewer.addEventListener("pointerdown", (event) => {
    if (!state.beforePx) return;
    const p = localPoint(event);
    let kind = null;
    if (event.button === 2) kind = "window";
    else if (event.button === 0) {
      const onHandle = el.handle.contains(event.target) || (state.mode === "split" && Math.abs(p.x - state.split * p.w) < 8);
      kind = onHandle && state.mode === "split" ? "split" : "pan";
    }
    if (!kind) return;
    event.preventDefault();
    if (kind === "split") el.handle.focus({ preventScroll: true });
    else el.viewer.focus({ preventScroll: true });
    drag = { kind, x: event.clientX, y: event.clientY, view: { ...state.view }, win: { ...state.win }, id: event.pointerId };
    el.viewer.setPointerCapture(event.pointerId);
    el.viewer.classList.toggle("panning", kind === "pan");
    el.viewer.classList.toggle("windowing", kind === "window");
  });
  el.viewer.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (drag.kind === "pan") {
      state.view = { ...drag.view, ox: drag.view.ox + dx, oy: drag.view.oy + dy };
      state.fitted = false;
      draw();
    } else if (drag.kind === "split") {
      const p = localPoint(event);
      setSplit(p.x / p.w);
    } else {
      const step = (state.vmax + 1) / 400;
      setWindow(drag.win.center + dy * step, drag.win.width * Math.exp(dx / 200));
    }
  });
  const endDrag = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    drag = null;
    el.viewer.classList.remove("panning", "windowing");
  };
  el.viewer.addEventListener("pointerup", endDrag);
  el.viewer.addEventListener("pointercancel", endDrag);
  el.viewer.addEventListener("wheel", (event) => {
    if (!state.beforePx) return;
    event.preventDefault();
    const p = localPoint(event);
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    zoomAt(Math.exp(-delta * 0.0015), p.x, p.y);
  }, { passive: false });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target && target.tagName;
    const typing = tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range" && target.type !== "file");
    if (typing || !state.beforePx) return;
    const isRange = tag === "INPUT" && target.type === "range";
    const key = event.key;
    if (key === "b" || key === "B") {
      setMode(state.mode === "before" ? "after" : "before");
    } else if (key === "s" || key === "S") {
      setMode("split");
    } else if (key === "r" || key === "R") {
      resetView();
    } else if ((key === "ArrowLeft" || key === "ArrowRight") && !isRange) {
      const step = (event.shiftKey ? 0.1 : 0.02) * (key === "ArrowLeft" ? -1 : 1);
      setSplit(state.split + step);
    } else if ((key === "Home" || key === "End") && target === el.handle) {
      setSplit(key === "Home" ? 0 : 1);
    } else if (key === "+" || key === "=" || key === "-" || key === "_") {
      const { cssW, cssH } = canvasSize();
      zoomAt(key === "+" || key === "=" ? 1.25 : 0.8, cssW / 2, cssH / 2);
    } else {
      return;
    }
    event.preventDefault();
  });

  // ---------- controls ----------
  el.fileInput.addEventListener("change", () => {
    if (el.fileInput.files && el.fileInput.files[0]) chooseFile(el.fileInput.files[0]);
    el.fileInput.value = "";
  });
  el.run.addEventListener("click", runDeblur);
  el.method.addEventListener("change", () => { el.method.title = el.method.selectedOptions[0]?.title || ""; updateRunButton(); });
  el.wlWidth.addEventListener("input", () => setWindow(state.win.center, Number(el.wlWidth.value)));
  el.wlCenter.addEventListener("input", () => setWindow(Number(el.wlCenter.value), state.win.width));
  el.wlReset.addEventListener("click", () => setWindow(state.defaultWin.center, state.defaultWin.width));
  el.viewReset.addEventListener("click", resetView);
  for (const button of modeButtons) button.addEventListener("click", () => setMode(button.dataset.mode));
  el.downloadPng.addEventListener("click", () => state.result && download(state.result.result_png, "image/png", ".png"));
  el.downloadDicom.addEventListener("click", () => state.result && state.result.result_dicom && download(state.result.result_dicom, "application/dicom", ".dcm"));

  // drag and drop anywhere on the page; highlight the drop zone and the viewer
  let dragDepth = 0;
  const hasFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth++;
    el.dropzone.classList.add("dragging");
    el.viewer.classList.add("dragging");
  });
  window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) { el.dropzone.classList.remove("dragging"); el.viewer.classList.remove("dragging"); }
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    el.dropzone.classList.remove("dragging");
    el.viewer.classList.remove("dragging");
    const file = event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) chooseFile(file);
  });

  new ResizeObserver(() => {
    if (state.fitted) fitView(); // a fitted view follows the window; a zoomed one stays
    draw();
  }).observe(el.viewer);

  loadModels();
})();
