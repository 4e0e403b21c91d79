/* xraydeblur web page: upload, deblur through the REST API, compare before/after.
 *
 * The page asks for the compact binary answer (Accept: application/vnd.xraydeblur.view,
 * server/view_payload.py): a JSON header with the facts, then both images as
 * deflate-compressed little-endian integers on the image's own scale (0 .. 2**bits - 1),
 * decoded here with the browser's DecompressionStream. Window/level works on the full
 * bit depth; canvases only ever see the windowed 8-bit rendering.
 *
 * Display safety: every request gets an id. Choosing another file (or starting another
 * run) clears the view at once, and an answer is shown only if its id is still the
 * latest, so an image is never shown under another file's name; after an error the
 * view stays clear.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    fileInput: $("file-input"), dropzone: $("dropzone"), fileName: $("file-name"), formatHint: $("format-hint"),
    method: $("method-select"), sigma: $("sigma-input"), run: $("run-button"),
    blurKind: $("blur-kind"), blurSizeLabel: $("blur-size-label"), angleField: $("angle-field"), angle: $("angle-input"),
    sizeField: $("size-field"), psfField: $("psf-field"), psfInput: $("psf-input"), psfName: $("psf-name"),
    denoise: $("denoise-input"), denoiseValue: $("denoise-value"), force: $("force-input"),
    progress: $("progress"), progressBar: $("progress-bar"), progressText: $("progress-text"), error: $("error"),
    wlPreset: $("wl-preset"), wlWidth: $("wl-width"), wlCenter: $("wl-center"),
    wlWidthValue: $("wl-width-value"), wlCenterValue: $("wl-center-value"),
    wlReset: $("wl-reset"), viewReset: $("view-reset"),
    invert: $("invert"), rotateLeft: $("rotate-left"), rotateRight: $("rotate-right"), flipH: $("flip-h"), flipV: $("flip-v"),
    viewer: $("viewer"), before: $("canvas-before"), after: $("canvas-after"), handle: $("split-handle"),
    tagBefore: $("tag-before"), tagAfter: $("tag-after"), empty: $("empty-state"),
    emptyTitle: $("empty-title"), emptyText: $("empty-text"), identity: $("identity"),
    zoomReadout: $("zoom-readout"), pixelReadout: $("pixel-readout"), notice: $("notice"),
    factMethod: $("fact-method"), factTime: $("fact-time"), factBlur: $("fact-blur"), factSharp: $("fact-sharpness"), factDataStep: $("fact-datastep"), factDataStepRow: $("fact-datastep-row"),
    factImage: $("fact-image"), factSafeguard: $("fact-safeguard"), factTransfer: $("fact-transfer"),
    downloadPng: $("download-png"), downloadDicom: $("download-dicom"),
  };
  const modeButtons = Array.from(document.querySelectorAll(".seg[data-mode]"));
  const viewControls = [el.wlPreset, el.wlWidth, el.wlCenter, el.wlReset, el.viewReset, el.invert,
    el.rotateLeft, el.rotateRight, el.flipH, el.flipV, el.downloadPng];
  const VIEW_TYPE = "application/vnd.xraydeblur.view";

  const state = {
    file: null, psf: null, busy: false, limits: null, xhr: null, requestId: 0,
    result: null, // { header, name, before, after, residual, dicom parts } of the shown image
    w: 0, h: 0, vmax: 255, offBefore: null, offAfter: null, offDiff: null, offResidual: null,
    win: { center: 128, width: 256 }, preset: "auto", invert: false,
    orient: { rot: 0, fx: false, fy: false },
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
    cancelRequest();
    clearResult(file.name, "Not processed yet.");
    state.file = file;
    el.fileName.textContent = `${file.name} · ${(file.size / 1e6).toFixed(2)} MB`;
    clearError();
    if (state.limits && file.size > state.limits.max_upload_bytes) {
      showError(`The file is ${(file.size / 1e6).toFixed(1)} MB; the server accepts at most ${(state.limits.max_upload_bytes / 1e6).toFixed(0)} MB.`, 413);
      clearResult(file.name, "This file was not processed.");
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

  function cancelRequest() {
    state.requestId++; // whatever is in flight is now stale
    if (state.xhr) { state.xhr.abort(); state.xhr = null; }
    state.busy = false;
    el.progress.hidden = true;
    updateRunButton();
  }

  function errorText(xhr) {
    let detail = null;
    try {
      const text = new TextDecoder().decode(xhr.response || new ArrayBuffer(0));
      const body = JSON.parse(text);
      if (body && typeof body.detail === "string") detail = body.detail;
    } catch (_) { detail = null; }
    const retry = xhr.getResponseHeader("Retry-After");
    return (detail || xhr.statusText || "request failed") + (retry ? ` (retry in ${retry} s)` : "");
  }

  function runDeblur() {
    if (!state.file || state.busy) return;
    const params = new URLSearchParams();
    if (el.method.value) params.set("method", el.method.value);
    const denoise = Number(el.denoise.value);
    if (denoise > 0) params.set("denoise", String(denoise));
    if (el.force.checked) params.set("force", "1");
    const body = blurRequest(params);
    if (body === null) return;
    clearError();
    const file = state.file;
    cancelRequest();
    const id = state.requestId;
    clearResult(file.name, "Processing this file…");
    state.busy = true;
    updateRunButton();
    setProgress("Uploading… 0%", 0);
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    el.viewer.dataset.request = String(id);
    xhr.open("POST", `/api/v1/deblur?${params}`);
    xhr.setRequestHeader("Accept", `${VIEW_TYPE}, application/json;q=0.5`);
    // a FormData body sets its own multipart Content-Type (with the boundary)
    if (!(body instanceof FormData)) xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "arraybuffer";
    const current = () => id === state.requestId;
    xhr.upload.onprogress = (event) => {
      if (current() && event.lengthComputable) {
        const pct = Math.round((100 * event.loaded) / event.total);
        setProgress(`Uploading… ${pct}%`, pct);
      }
    };
    xhr.upload.onload = () => { if (current()) setProgress("Processing…", null); };
    xhr.onprogress = (event) => {
      if (current() && xhr.status === 200) {
        const total = event.lengthComputable ? ` of ${(event.total / 1e6).toFixed(1)} MB` : "";
        setProgress(`Receiving… ${(event.loaded / 1e6).toFixed(1)} MB${total}`, event.lengthComputable ? Math.round((100 * event.loaded) / event.total) : null);
      }
    };
    xhr.onload = async () => {
      if (!current()) return; // a newer file was chosen meanwhile
      state.xhr = null;
      if (xhr.status !== 200) {
        finishRequest();
        clearResult(file.name, "This file could not be processed (see the error).");
        showError(errorText(xhr), xhr.status || undefined);
        return;
      }
      setProgress("Decoding…", null);
      const received = xhr.response.byteLength;
      try {
        const started = performance.now();
        const result = await decodeView(xhr.response);
        const decodeMs = performance.now() - started;
        if (!current()) return; // chosen away while decoding
        finishRequest();
        result.name = file.name;
        result.received = received;
        result.decodeMs = decodeMs;
        showResult(result);
      } catch (err) {
        if (!current()) return;
        finishRequest();
        clearResult(file.name, "The result could not be displayed.");
        showError(`Could not display the result (${err.message}).`);
      }
    };
    xhr.onerror = () => {
      if (!current()) return;
      state.xhr = null;
      finishRequest();
      clearResult(file.name, "This file could not be processed.");
      showError("Network error: the server could not be reached.");
    };
    xhr.send(body);
  }

  function finishRequest() {
    state.busy = false;
    el.progress.hidden = true;
    updateRunButton();
  }

  // ---------- decoding the view payload ----------
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  function unfilter(raw, entry) {
    const [h, w] = entry.shape;
    const count = h * w;
    const wide = entry.planes === 2;
    if (raw.length !== count * entry.planes) throw new Error(`${entry.name} has the wrong length`);
    const out = wide ? new Uint16Array(count) : new Uint8Array(count);
    if (wide) for (let i = 0; i < count; i++) out[i] = raw[i] | (raw[count + i] << 8);
    else out.set(raw);
    if (entry.filter === "up") {
      for (let i = w; i < count; i++) out[i] += out[i - w]; // typed arrays wrap around
    } else if (entry.filter === "sub") {
      for (let y = 0; y < h; y++) for (let i = y * w + 1, end = (y + 1) * w; i < end; i++) out[i] += out[i - 1];
    } else if (entry.filter !== "none") {
      throw new Error(`unknown filter ${entry.filter}`);
    }
    return entry.dtype === "int8" ? new Int8Array(out.buffer) : out;
  }

  async function decodeView(buffer) {
    const bytes = new Uint8Array(buffer);
    const magic = String.fromCharCode(...bytes.subarray(0, 4));
    if (magic !== "XDV1") throw new Error("the server sent another format");
    const length = new DataView(buffer).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    const data = bytes.subarray(8 + length);
    const arrays = {};
    await Promise.all(header.arrays.map(async (entry) => {
      const raw = await inflate(data.subarray(entry.offset, entry.offset + entry.length));
      arrays[entry.name] = entry.dtype === "bytes" ? raw : unfilter(raw, entry);
    }));
    if (!arrays.before || !arrays.after) throw new Error("the answer has no pixels");
    return { header, arrays };
  }

  // ---------- values: display scale <-> file ----------
  function displayInfo() {
    const d = (state.result && state.result.header.display) || {};
    return {
      inverted: Boolean(d.inverted), signed: Boolean(d.signed),
      slope: typeof d.rescale_slope === "number" ? d.rescale_slope : 1,
      intercept: typeof d.rescale_intercept === "number" ? d.rescale_intercept : 0,
      center: d.window_center, width: d.window_width,
    };
  }

  function storedOf(v) {
    const d = displayInfo();
    let stored = d.inverted ? state.vmax - v : v;
    if (d.signed) stored -= 2 ** (state.result.header.bits - 1);
    return stored;
  }

  function fileWindow() {
    const d = displayInfo();
    if (typeof d.center !== "number" || typeof d.width !== "number" || !(d.width > 0) || !d.slope) return null;
    let stored = (d.center - d.intercept) / d.slope;
    if (d.signed) stored += 2 ** (state.result.header.bits - 1);
    return { center: d.inverted ? state.vmax - stored : stored, width: d.width / Math.abs(d.slope) };
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

  function presetWindow(name) {
    if (name === "full") return { center: state.vmax / 2, width: state.vmax + 1 };
    if (name === "file") return fileWindow() || autoWindow(state.result.arrays.before, state.vmax);
    return autoWindow(state.result.arrays.before, state.vmax);
  }

  function makeOffscreen() {
    const canvas = document.createElement("canvas");
    canvas.width = state.w;
    canvas.height = state.h;
    return canvas;
  }

  function windowLut() {
    const { center, width } = state.win;
    const lut = new Uint32Array(state.vmax + 1);
    const lo = center - width / 2;
    for (let v = 0; v <= state.vmax; v++) {
      let g = Math.round(((v - lo) / width) * 255);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      if (state.invert) g = 255 - g;
      lut[v] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    return lut;
  }

  function paintPixels(canvas, fill) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(state.w, state.h);
    fill(new Uint32Array(image.data.buffer));
    ctx.putImageData(image, 0, 0);
  }

  function renderWindowed() {
    if (!state.result) return;
    const lut = windowLut();
    const { before, after } = state.result.arrays;
    paintPixels(state.offBefore, (out) => { for (let i = 0; i < before.length; i++) out[i] = lut[before[i]]; });
    paintPixels(state.offAfter, (out) => { for (let i = 0; i < after.length; i++) out[i] = lut[after[i]]; });
    // the residual layer (over the windowed result) is painted when it is shown
    state.residualStale = true;
    if (state.mode === "residual") paintShownLayer();
    el.wlWidth.value = String(Math.round(state.win.width));
    el.wlCenter.value = String(Math.round(state.win.center));
    el.wlWidthValue.textContent = String(Math.round(state.win.width));
    el.wlCenterValue.textContent = String(Math.round(state.win.center));
    el.wlPreset.value = state.preset;
    el.viewer.dataset.window = `${Math.round(state.win.center)}/${Math.round(state.win.width)}`;
    draw();
  }

  // after minus before: mid grey is no change, the scale is the 99.5th percentile of |difference|
  function renderDifference() {
    const { before, after } = state.result.arrays;
    const hist = new Uint32Array(state.vmax + 1);
    for (let i = 0; i < before.length; i++) hist[Math.abs(after[i] - before[i])]++;
    let acc = 0, span = 1;
    for (let v = 0; v <= state.vmax; v++) { acc += hist[v]; if (acc >= before.length * 0.995) { span = Math.max(1, v); break; } }
    state.diffSpan = span;
    paintPixels(state.offDiff, (out) => {
      for (let i = 0; i < before.length; i++) {
        let g = Math.round(127.5 + (127.5 * (after[i] - before[i])) / span);
        g = g < 0 ? 0 : g > 255 ? 255 : g;
        out[i] = 0xff000000 | (g << 16) | (g << 8) | g;
      }
    });
  }

  // the difference and residual layers are painted on first use, not with every result:
  // a 4-megapixel layer is tens of milliseconds of the time to the first picture
  function paintShownLayer() {
    if (state.mode === "diff" && state.diffStale) {
      renderDifference();
      state.diffStale = false;
    } else if (state.mode === "residual" && state.residualStale && state.offResidual) {
      renderResidual(windowLut());
      state.residualStale = false;
    }
  }

  // the safeguard's residual map over a dimmed result: red above, blue below the data
  function renderResidual(lut) {
    const { after, residual } = state.result.arrays;
    const scale = state.result.header.residual_scale || 8;
    const threshold = (state.result.header.safeguard && state.result.header.safeguard.threshold) || 3;
    paintPixels(state.offResidual, (out) => {
      for (let i = 0; i < after.length; i++) {
        const g = (lut[after[i]] & 0xff) >> 1;
        const z = (residual[i] * scale) / 127;
        const a = Math.min(1, Math.abs(z) / threshold);
        const strong = Math.abs(z) >= threshold ? 255 : 160;
        let r = g, gg = g, b = g;
        if (z > 0) { r = Math.round(g + (strong - g) * a); gg = Math.round(g * (1 - a)); b = gg; }
        else if (z < 0) { b = Math.round(g + (strong - g) * a); r = Math.round(g * (1 - a)); gg = Math.round(g + (120 - g) * a * 0.5); }
        out[i] = 0xff000000 | (b << 16) | (gg << 8) | r;
      }
    });
  }

  function canvasSize() {
    const rect = el.viewer.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    return { cssW: rect.width, cssH: rect.height, dpr };
  }

  // the areas one image is drawn in: the whole viewer, or two halves side by side
  function panes() {
    const { cssW, cssH } = canvasSize();
    if (state.mode === "side") {
      const half = Math.floor(cssW / 2);
      return [{ x0: 0, w: half - 1, h: cssH }, { x0: half + 1, w: cssW - half - 1, h: cssH }];
    }
    return [{ x0: 0, w: cssW, h: cssH }];
  }

  function shownSize() {
    return state.orient.rot % 2 ? { w: state.h, h: state.w } : { w: state.w, h: state.h };
  }

  function resizeCanvases() {
    const { cssW, cssH, dpr } = canvasSize();
    for (const canvas of [el.before, el.after]) {
      const w = Math.max(1, Math.round(cssW * dpr)), h = Math.max(1, Math.round(cssH * dpr));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    }
  }

  function fitScale() {
    const pane = panes()[0];
    const shown = shownSize();
    return Math.min(pane.w / shown.w, pane.h / shown.h);
  }

  function fitView() {
    if (!state.w) return;
    const pane = panes()[0];
    const shown = shownSize();
    const scale = fitScale() * 0.98;
    state.view = { scale, ox: (pane.w - shown.w * scale) / 2, oy: (pane.h - shown.h * scale) / 2 };
    state.fitted = true;
  }

  // image pixel -> pane point is: scale, rotate by rot * 90 degrees, flip; the inverse for the readout
  function imagePoint(px, py) {
    const { scale, ox, oy } = state.view;
    const shown = shownSize();
    let dx = (px - ox) / scale - shown.w / 2, dy = (py - oy) / scale - shown.h / 2;
    for (let k = 0; k < state.orient.rot; k++) [dx, dy] = [dy, -dx]; // undo one clockwise quarter turn
    if (state.orient.fx) dx = -dx;
    if (state.orient.fy) dy = -dy;
    return { x: Math.floor(dx + state.w / 2), y: Math.floor(dy + state.h / 2) };
  }

  function draw() {
    resizeCanvases();
    const { cssW, cssH, dpr } = canvasSize();
    const { scale, ox, oy } = state.view;
    const shown = shownSize();
    const paint = (canvas, source, pane, clipLeft) => {
      if (!source) return;
      const ctx = canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.save();
      ctx.beginPath();
      const left = Math.max(pane.x0, clipLeft === null ? pane.x0 : clipLeft);
      ctx.rect(left, 0, pane.x0 + pane.w - left, pane.h);
      ctx.clip();
      ctx.translate(pane.x0 + ox + (shown.w * scale) / 2, oy + (shown.h * scale) / 2);
      ctx.rotate((state.orient.rot * Math.PI) / 2);
      ctx.scale(state.orient.fx ? -1 : 1, state.orient.fy ? -1 : 1);
      ctx.imageSmoothingEnabled = scale < 1;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(source, (-state.w * scale) / 2, (-state.h * scale) / 2, state.w * scale, state.h * scale);
      ctx.restore();
    };
    for (const canvas of [el.before, el.after]) {
      const ctx = canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    }
    const mode = state.mode;
    const ready = Boolean(state.result);
    if (ready) {
      const [first, second] = panes();
      if (mode === "split") {
        paint(el.before, state.offBefore, first, null);
        if (state.split * cssW < cssW) paint(el.after, state.offAfter, first, state.split * cssW);
      } else if (mode === "side") {
        paint(el.before, state.offBefore, first, null);
        paint(el.after, state.offAfter, second, null);
      } else if (mode === "before") {
        paint(el.before, state.offBefore, first, null);
      } else if (mode === "after") {
        paint(el.after, state.offAfter, first, null);
      } else if (mode === "diff") {
        paint(el.after, state.offDiff, first, null);
      } else if (mode === "residual") {
        paint(el.after, state.offResidual, first, null);
      }
    }
    el.handle.hidden = !ready || mode !== "split";
    el.handle.style.left = `${(state.split * 100).toFixed(3)}%`;
    const pct = Math.round(state.split * 100);
    el.handle.setAttribute("aria-valuenow", String(pct));
    el.handle.setAttribute("aria-valuetext", `${pct} percent: before on the left, after on the right`);
    const labels = {
      split: ["◀ Before", "After ▶"], side: ["Before", "After"], before: ["Before", null], after: [null, "After"],
      diff: [null, "Difference: after − before"], residual: [null, "Safeguard residual"],
    }[mode];
    el.tagBefore.hidden = !ready || !labels[0];
    el.tagAfter.hidden = !ready || !labels[1];
    el.tagBefore.textContent = labels[0] || "";
    el.tagAfter.textContent = labels[1] || "";
    const rightTag = mode === "split" || mode === "side";
    el.tagAfter.classList.toggle("tag-left", !rightTag);
    el.tagAfter.classList.toggle("tag-right", rightTag);
    el.viewer.dataset.mode = mode;
    el.viewer.classList.toggle("side", mode === "side");
    const zoom = ready ? `${Math.round(scale * 100)}%` : "–";
    el.zoomReadout.textContent = `Zoom ${zoom}`;
    el.viewer.dataset.zoom = ready ? String(Math.round(scale * 100)) : "";
  }

  function setMode(mode) {
    if (mode === "residual" && !(state.result && state.offResidual)) return;
    state.mode = mode;
    if (state.result) paintShownLayer();
    for (const button of modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    if (state.fitted) fitView();
    draw();
  }

  function setSplit(value) {
    state.split = Math.min(1, Math.max(0, value));
    if (state.mode !== "split") setMode("split");
    else draw();
  }

  function setWindow(center, width, preset = "custom") {
    state.preset = preset;
    state.win = {
      center: Math.min(state.vmax, Math.max(0, center)),
      width: Math.min(state.vmax + 1, Math.max(1, width)),
    };
    renderWindowed();
  }

  function applyPreset(name) {
    const win = presetWindow(name);
    setWindow(win.center, win.width, name);
  }

  function zoomAt(factor, cx, cy) {
    const v = state.view;
    const fit = fitScale();
    const scale = Math.min(fit * 64, Math.max(fit * 0.25, v.scale * factor));
    const f = scale / v.scale;
    state.view = { scale, ox: cx - (cx - v.ox) * f, oy: cy - (cy - v.oy) * f };
    state.fitted = false;
    draw();
  }

  function resetView() {
    state.split = 0.5;
    state.orient = { rot: 0, fx: false, fy: false };
    updateOrientButtons();
    fitView();
    setMode(state.mode === "split" || state.mode === "side" ? state.mode : "split");
  }

  function updateOrientButtons() {
    el.flipH.setAttribute("aria-pressed", String(state.orient.rot % 2 ? state.orient.fy : state.orient.fx));
    el.flipV.setAttribute("aria-pressed", String(state.orient.rot % 2 ? state.orient.fx : state.orient.fy));
    el.invert.setAttribute("aria-pressed", String(state.invert));
    el.viewer.dataset.orient = `${state.orient.rot * 90}${state.orient.fx ? " fx" : ""}${state.orient.fy ? " fy" : ""}`;
    el.viewer.dataset.invert = String(state.invert);
  }

  function rotate(quarters) {
    state.orient.rot = (state.orient.rot + quarters + 4) % 4;
    updateOrientButtons();
    fitView();
    draw();
  }

  // flips act on the screen: after a quarter turn, a horizontal flip is the image's vertical one
  function flip(horizontal) {
    const imageX = horizontal !== Boolean(state.orient.rot % 2);
    if (imageX) state.orient.fx = !state.orient.fx;
    else state.orient.fy = !state.orient.fy;
    updateOrientButtons();
    draw();
  }

  function toggleInvert() {
    state.invert = !state.invert;
    updateOrientButtons();
    renderWindowed();
  }

  // ---------- result ----------
  function fmt(value, digits = 3) {
    return typeof value === "number" && isFinite(value) ? value.toPrecision(digits) : "n/a";
  }

  // nothing shown: no image, no name, no facts (a new file, an error)
  function clearResult(name, message) {
    state.result = null;
    state.offBefore = state.offAfter = state.offDiff = state.offResidual = null;
    for (const control of viewControls) control.disabled = true;
    modeButtons.find((b) => b.dataset.mode === "residual").disabled = true;
    el.downloadDicom.hidden = true;
    el.identity.hidden = true;
    el.identity.textContent = "";
    el.notice.hidden = true;
    el.notice.textContent = "";
    el.empty.hidden = false;
    el.emptyTitle.textContent = name || "No image yet";
    el.emptyText.textContent = message || "";
    for (const dd of [el.factMethod, el.factTime, el.factBlur, el.factSharp, el.factDataStep, el.factImage, el.factSafeguard, el.factTransfer]) {
      dd.textContent = "–";
      dd.removeAttribute("title");
    }
    el.factDataStepRow.hidden = true;
    el.pixelReadout.textContent = "";
    el.viewer.dataset.ready = "false";
    el.viewer.dataset.file = "";
    draw();
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
      if (["status", "verdict", "ok", "passed", "consistent", "explanation"].includes(key)) continue;
      if (typeof value === "number") details.push(`${key} ${fmt(value)}`);
      else if (typeof value === "string" && value.length < 60) details.push(`${key}: ${value}`);
      if (details.length >= 2) break;
    }
    if (details.length) el.factSafeguard.append(document.createTextNode(" " + details.join(", ")));
    if (typeof report.explanation === "string" && report.explanation) {
      const note = document.createElement("div");
      note.className = "safeguard-explanation";
      note.textContent = report.explanation;
      el.factSafeguard.append(note);
    }
    if (typeof report.overlay_px === "number" && report.overlay_px > 0) {
      const note = document.createElement("div");
      note.className = "overlay-note";
      note.textContent = `burned-in text/markers kept unchanged (${report.overlay_px} px)`;
      el.factSafeguard.append(note);
    }
    el.factSafeguard.title = JSON.stringify(report, null, 1);
  }

  function showIdentity(result) {
    el.identity.textContent = "";
    const line = (label, value) => {
      if (value === null || value === undefined || value === "") return;
      const row = document.createElement("div");
      if (label) {
        const key = document.createElement("span");
        key.className = "id-key";
        key.textContent = `${label} `;
        row.append(key);
      }
      row.append(document.createTextNode(String(value)));
      el.identity.append(row);
    };
    line("", result.name);
    const who = result.header.identity;
    if (who) {
      const date = typeof who.study_date === "string" && /^\d{8}$/.test(who.study_date)
        ? `${who.study_date.slice(0, 4)}-${who.study_date.slice(4, 6)}-${who.study_date.slice(6)}` : who.study_date;
      line("Patient", who.patient_name);
      line("ID", who.patient_id);
      line("Study", [date, who.study_description].filter(Boolean).join(" · "));
      line("Series", who.series_description);
    }
    el.identity.hidden = false;
  }

  function showNotice(header) {
    el.notice.textContent = "";
    if (header.unchanged !== true) { el.notice.hidden = true; return; }
    const strong = document.createElement("strong");
    strong.textContent = "No blur detected: ";
    el.notice.append(strong, document.createTextNode("the image is returned unchanged (tick 'Deblur even if no blur is detected' to force)."));
    const nb = header.no_blur;
    if (nb && typeof nb === "object" && typeof nb.estimated_blur_px === "number") {
      const detail = typeof nb.threshold_px === "number" ? ` (estimated blur ${fmt(nb.estimated_blur_px)} px, threshold ${fmt(nb.threshold_px)} px)` : ` (estimated blur ${fmt(nb.estimated_blur_px)} px)`;
      el.notice.append(document.createTextNode(detail));
    }
    el.notice.hidden = false;
  }

  function showResult(result) {
    const started = performance.now();
    const body = result.header;
    state.result = result;
    state.w = body.width;
    state.h = body.height;
    state.vmax = body.value_max;
    state.offBefore = makeOffscreen();
    state.offAfter = makeOffscreen();
    state.offDiff = makeOffscreen();
    state.offResidual = result.arrays.residual ? makeOffscreen() : null;
    state.diffStale = state.residualStale = true;
    el.wlWidth.max = String(state.vmax + 1);
    el.wlCenter.max = String(state.vmax);
    const fileOption = el.wlPreset.querySelector("option[value='file']");
    fileOption.disabled = !fileWindow();
    for (const control of viewControls) control.disabled = false;
    modeButtons.find((b) => b.dataset.mode === "residual").disabled = !state.offResidual;
    el.downloadDicom.hidden = !(result.arrays.dicom || result.arrays.dicom_head);
    el.empty.hidden = true;

    el.factMethod.textContent = body.method + (body.method_version ? ` ${body.method_version}` : "");
    el.factTime.textContent = `${fmt(body.seconds)} s` + (body.queue_seconds > 0.05 ? ` (+${fmt(body.queue_seconds, 2)} s queued)` : "");
    const psf = body.psf_identified;
    const confidence = psf && typeof psf.confidence === "number" ? `, confidence ${Math.round(100 * psf.confidence)} %` : "";
    // a Gaussian may be restored narrower than found (the rule's width factor): say with what
    const restoredWith = psf && psf.trusted && psf.restored_with && typeof psf.restored_with.sigma === "number"
      ? `, restored with sigma ${fmt(psf.restored_with.sigma, 3)} px` : "";
    // trusted, but its restoration failed the safeguard: the server restored blind instead
    const psfVerdict = !psf ? "" : body.psf_rejected ? ", rejected: its restoration failed the safeguard, restored blind"
      : psf.trusted ? restoredWith : ", not trusted: blind";
    const psfNote = psf && psf.label ? ` (identified ${psf.label}${confidence}${psfVerdict})` : "";
    // blind: the learned estimator's motion, when the noise was put back (and the safeguard re-blurred) with it
    const blindPsf = body.blind_psf;
    const blindNote = !psfNote && blindPsf && blindPsf.used && blindPsf.label
      ? ` (noise put back under the ${blindPsf.label} found, confidence ${Math.round(100 * blindPsf.confidence)} %)` : "";
    // the server does not re-measure the output's blur (a second spectrum fit, about a
    // third of a second per megapixel): say so rather than "n/a"
    const blurAfter = typeof body.estimated_blur_after === "number" ? ` → ${fmt(body.estimated_blur_after)} px` : " px (after: not measured)";
    el.factBlur.textContent = `${fmt(body.estimated_blur_before)}${blurAfter}` + (body.kernel ? ` (given ${body.kernel})` : psfNote || blindNote);
    el.factSharp.textContent = `${fmt(body.sharpness_before)} → ${fmt(body.sharpness_after)}`;
    const step = body.data_step;
    el.factDataStep.textContent = step && typeof step.summary === "string" ? step.summary : "–";
    el.factDataStepRow.hidden = !(step && typeof step.summary === "string");
    el.factImage.textContent = `${body.width}×${body.height}, ${body.bits}-bit ${String(body.input_format).toUpperCase()}`;
    el.factTransfer.textContent = `${(result.received / 1e6).toFixed(2)} MB, decoded in ${Math.round(result.decodeMs)} ms`;
    showSafeguard(body.safeguard);
    showNotice(body);
    showIdentity(result);

    state.split = 0.5;
    state.mode = "split";
    state.orient = { rot: 0, fx: false, fy: false };
    state.invert = false;
    updateOrientButtons();
    for (const button of modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === "split"));
    fitView();
    const preset = fileWindow() ? "file" : "auto";
    state.defaultPreset = preset;
    el.viewer.dataset.file = result.name;
    el.viewer.dataset.decodeMs = String(Math.round(result.decodeMs));
    applyPreset(preset);
    el.viewer.dataset.renderMs = String(Math.round(performance.now() - started));
    el.viewer.dataset.ready = "true";
  }

  // ---------- pixel readout ----------
  function describeValue(v) {
    const d = displayInfo();
    const stored = storedOf(v);
    if (state.result.header.input_format !== "dicom") return `${stored}`;
    const modality = stored * d.slope + d.intercept;
    return `stored ${stored} → ${Number.isInteger(modality) ? modality : modality.toFixed(2)}`;
  }

  function updateReadout(event) {
    if (!state.result) return;
    const rect = el.viewer.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    const pane = panes().find((p) => x >= p.x0 && x < p.x0 + p.w);
    const point = pane ? imagePoint(x - pane.x0, y) : null;
    if (!point || point.x < 0 || point.y < 0 || point.x >= state.w || point.y >= state.h) {
      el.pixelReadout.textContent = "outside the image";
      el.viewer.dataset.readout = "";
      return;
    }
    const i = point.y * state.w + point.x;
    const { before, after, residual } = state.result.arrays;
    let text = `x ${point.x}, y ${point.y} · before ${describeValue(before[i])} · after ${describeValue(after[i])}`;
    if (state.mode === "diff") text += ` · after − before ${after[i] - before[i]}`;
    if (state.mode === "residual" && residual) text += ` · residual z ${((residual[i] * (state.result.header.residual_scale || 8)) / 127).toFixed(1)}`;
    el.pixelReadout.textContent = text;
    el.viewer.dataset.readout = `${point.x},${point.y},${before[i]},${after[i]}`;
  }

  // ---------- downloads ----------
  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();
  function crc32(parts) {
    let c = 0xffffffff;
    for (const bytes of parts) for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }
  function pngChunk(type, data) {
    const head = new Uint8Array(8), tail = new Uint8Array(4);
    const kind = new TextEncoder().encode(type);
    new DataView(head.buffer).setUint32(0, data.length);
    head.set(kind, 4);
    new DataView(tail.buffer).setUint32(0, crc32([kind, data]));
    return [head, data, tail];
  }

  // a greyscale PNG of the result at the depth the API's format=png gives (8-bit source: 8)
  async function resultPng() {
    const { header, arrays } = state.result;
    const bits = header.result_png_bits === 8 ? 8 : 16;
    const { width: w, height: h } = header;
    const rowBytes = 1 + w * (bits / 8);
    const raw = new Uint8Array(rowBytes * h);
    const after = arrays.after;
    const factor = bits === 16 ? 65535 / state.vmax : 1;
    for (let y = 0; y < h; y++) {
      let o = y * rowBytes + 1; // filter byte 0 (none)
      for (let x = 0, i = y * w; x < w; x++, i++) {
        const v = bits === 16 ? Math.round(after[i] * factor) : after[i];
        if (bits === 16) { raw[o++] = v >> 8; raw[o++] = v & 0xff; } else raw[o++] = v;
      }
    }
    const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
    const idat = new Uint8Array(await new Response(stream).arrayBuffer());
    const ihdr = new Uint8Array(13);
    const view = new DataView(ihdr.buffer);
    view.setUint32(0, w);
    view.setUint32(4, h);
    ihdr.set([bits, 0, 0, 0, 0], 8);
    const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
    return new Blob([signature, ...pngChunk("IHDR", ihdr), ...pngChunk("IDAT", idat), ...pngChunk("IEND", new Uint8Array(0))], { type: "image/png" });
  }

  // the derived DICOM: sent whole, or as head + the after pixels as stored values + tail
  function resultDicom() {
    const { header, arrays } = state.result;
    if (arrays.dicom) return new Blob([arrays.dicom], { type: "application/dicom" });
    const splice = header.dicom_splice;
    const after = arrays.after;
    const pixels = splice.bytes_per_value === 2 ? new Uint8Array(after.length * 2) : new Uint8Array(after.length);
    const view = new DataView(pixels.buffer);
    const offset = splice.signed ? 2 ** (splice.bits - 1) : 0;
    for (let i = 0; i < after.length; i++) {
      const stored = (splice.inverted ? state.vmax - after[i] : after[i]) - offset;
      if (splice.bytes_per_value === 2) view.setUint16(2 * i, stored & 0xffff, true);
      else pixels[i] = stored & 0xff;
    }
    return new Blob([arrays.dicom_head, pixels, arrays.dicom_tail], { type: "application/dicom" });
  }

  function save(blob, suffix) {
    const url = URL.createObjectURL(blob);
    const stem = (state.result.name || "radiograph").replace(/\.[^.]+$/, "");
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
    if (!state.result) return;
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
    updateReadout(event);
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
  el.viewer.addEventListener("pointerleave", () => { if (state.result) el.pixelReadout.textContent = ""; });
  const endDrag = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    drag = null;
    el.viewer.classList.remove("panning", "windowing");
  };
  el.viewer.addEventListener("pointerup", endDrag);
  el.viewer.addEventListener("pointercancel", endDrag);
  el.viewer.addEventListener("wheel", (event) => {
    if (!state.result) return;
    event.preventDefault();
    const p = localPoint(event);
    const pane = panes().find((q) => p.x >= q.x0 && p.x < q.x0 + q.w) || panes()[0];
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    zoomAt(Math.exp(-delta * 0.0015), p.x - pane.x0, p.y);
  }, { passive: false });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target && target.tagName;
    const typing = tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && !["range", "file", "checkbox"].includes(target.type));
    if (typing || !state.result) return;
    const isRange = tag === "INPUT" && target.type === "range";
    const key = event.key;
    if (key === "b" || key === "B") {
      setMode(state.mode === "before" ? "after" : "before");
    } else if (key === "s" || key === "S") {
      setMode("split");
    } else if (key === "v" || key === "V") {
      setMode("side");
    } else if (key === "d" || key === "D") {
      setMode("diff");
    } else if (key === "i" || key === "I") {
      toggleInvert();
    } else if (key === "r" || key === "R") {
      resetView();
    } else if ((key === "ArrowLeft" || key === "ArrowRight") && !isRange) {
      const step = (event.shiftKey ? 0.1 : 0.02) * (key === "ArrowLeft" ? -1 : 1);
      setSplit(state.split + step);
    } else if ((key === "Home" || key === "End") && target === el.handle) {
      setSplit(key === "Home" ? 0 : 1);
    } else if (key === "+" || key === "=" || key === "-" || key === "_") {
      const pane = panes()[0];
      zoomAt(key === "+" || key === "=" ? 1.25 : 0.8, pane.w / 2, pane.h / 2);
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
  el.denoise.addEventListener("input", () => { el.denoiseValue.textContent = Number(el.denoise.value).toFixed(2); });
  el.wlPreset.addEventListener("change", () => { if (el.wlPreset.value !== "custom") applyPreset(el.wlPreset.value); });
  el.wlWidth.addEventListener("input", () => setWindow(state.win.center, Number(el.wlWidth.value)));
  el.wlCenter.addEventListener("input", () => setWindow(Number(el.wlCenter.value), state.win.width));
  el.wlReset.addEventListener("click", () => applyPreset(state.defaultPreset || "auto"));
  el.viewReset.addEventListener("click", resetView);
  el.invert.addEventListener("click", toggleInvert);
  el.rotateLeft.addEventListener("click", () => rotate(-1));
  el.rotateRight.addEventListener("click", () => rotate(1));
  el.flipH.addEventListener("click", () => flip(true));
  el.flipV.addEventListener("click", () => flip(false));
  for (const button of modeButtons) button.addEventListener("click", () => setMode(button.dataset.mode));
  el.downloadPng.addEventListener("click", async () => {
    if (!state.result) return;
    const shown = state.result;
    const blob = await resultPng();
    if (state.result === shown) save(blob, ".png");
  });
  el.downloadDicom.addEventListener("click", () => state.result && save(resultDicom(), ".dcm"));

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

  updateOrientButtons();
  loadModels();
})();
