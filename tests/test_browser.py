"""End-to-end tests of the web page: real server (uvicorn subprocess) + Debian chromium.

Needs /usr/bin/chromium (skipped without it, failed when CI=true) and shared
radiographs (skipped without them, failed when XRAYDEBLUR_REQUIRE_DATA=1). Covers the
viewer (split, side by side, difference, residual, readout, presets, invert, rotate,
flip), display safety (a view never shows one file's image under another's name), and
the layout at 390 and 1440 px (plus 360 px and 4K: no horizontal scrolling). Saves a
screenshot to test-artifacts/browser.png; with XRAYDEBLUR_UPDATE_SCREENSHOT=1 also
renders docs/screenshot.png from a CC BY radiograph crop (kept in memory only).
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATA_STEP_TEST_METHOD, PROJECT_ROOT, SLOW_TEST_METHOD, TEST_METHOD, shared_data_file

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RADIOGRAPH = "cxr/mhh/00870a9c.png"  # 640 x 524, 8-bit
LABELLED_RADIOGRAPH = "cxr/kermany/NORMAL2-IM-1333-0001.jpeg"  # burned-in "R" marker

CANVAS_STATS = """([id, x0, x1]) => {
  const canvas = document.getElementById(id);
  const a = Math.floor(canvas.width * x0), b = Math.max(a + 1, Math.floor(canvas.width * x1));
  const data = canvas.getContext("2d").getImageData(a, 0, b - a, canvas.height).data;
  let sum = 0, painted = 0;
  const samples = [];
  for (let i = 0, p = 0; i < data.length; i += 4, p++) {
    sum += data[i];
    if (data[i + 3] > 0) painted++;
    if (p % 61 === 0) samples.push(data[i]);
  }
  return { sum, painted, samples, total: data.length / 4 };
}"""


def _need_chromium():
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing (CI=true requires the browser test)")
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser test")


def _gaussian_psf_npy(size: int, sigma: float) -> bytes:
    """A measured-PSF stand-in: a ``size`` x ``size`` Gaussian (sum 1) as .npy bytes."""
    r = np.arange(size) - size // 2
    psf = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    buf = io.BytesIO()
    np.save(buf, psf / psf.sum())
    return buf.getvalue()


def _stats(page, canvas: str, x0: float = 0.0, x1: float = 1.0) -> dict:
    return page.evaluate(CANVAS_STATS, [canvas, x0, x1])


def _upload_and_wait(page, method: str, files) -> None:
    page.wait_for_function("() => !document.getElementById('method-select').disabled")
    page.select_option("#method-select", method)
    page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
    page.set_input_files("#file-input", files)
    page.wait_for_selector("#viewer[data-ready='true']", timeout=90_000)


def _open_page(browser, server, width: int, height: int = 900, errors: list | None = None):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url + "/")
    page.wait_for_function("() => !document.getElementById('method-select').disabled")
    return page


def _png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _painted_box(page, canvas: str = "canvas-before") -> dict:
    """The CSS-pixel box of the painted part of a canvas (relative to the viewer)."""
    return page.evaluate(
        """(id) => {
      const c = document.getElementById(id), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let x0 = c.width, y0 = c.height, x1 = -1, y1 = -1;
      for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
        if (d[4 * (y * c.width + x) + 3] > 0) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
      }
      const k = c.width / c.getBoundingClientRect().width;
      return { x0: x0 / k, y0: y0 / k, x1: (x1 + 1) / k, y1: (y1 + 1) / k };
    }""",
        canvas,
    )


def _hover_readout(page, x: float, y: float) -> tuple[int, int, int, int]:
    """Move the pointer to viewer-relative (x, y); (image x, image y, before, after)."""
    page.locator("#viewer").scroll_into_view_if_needed()
    viewer = page.locator("#viewer").bounding_box()
    page.mouse.move(viewer["x"] + x, viewer["y"] + y)
    value = page.get_attribute("#viewer", "data-readout")
    assert value, page.inner_text("#pixel-readout")
    return tuple(int(v) for v in value.split(","))


def _launch(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def test_web_page_end_to_end(live_server, tmp_path):
    _need_chromium()
    radiograph = shared_data_file(RADIOGRAPH)
    from playwright.sync_api import sync_playwright

    server = live_server({"XRAYDEBLUR_TEST_DELAY": "0.1"})
    artifacts = PROJECT_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(server.url + "/")
            assert page.is_visible("text=Research use only")
            page.wait_for_function("() => !document.getElementById('method-select').disabled")

            # keyboard: Tab reaches the controls in reading order, with a visible focus ring
            order = []
            for _ in range(8):
                page.keyboard.press("Tab")
                order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
            for earlier, later in (("file-input", "method-select"), ("method-select", "sigma-input")):
                assert order.index(earlier) < order.index(later), order
            page.focus("#method-select")
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("", "none"), outline

            # a 4xx answer is shown as a readable error
            page.set_input_files("#file-input", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image" * 20})
            page.wait_for_selector("#error:not([hidden])", timeout=30_000)
            assert "415" in page.inner_text("#error")
            assert page.get_attribute("#viewer", "data-ready") == "false" and page.is_hidden("#identity")
            assert "notes.png" in page.inner_text("#empty-state")

            # upload a real radiograph and wait for the comparison (deblurred even if no blur is
            # found, full restoration: at denoise 0 a sharp image comes back as it was)
            page.check("#force-input")
            page.fill("#denoise-input", "1")
            _upload_and_wait(page, TEST_METHOD, str(radiograph))
            assert page.inner_text("#identity").strip() == radiograph.name
            assert page.is_hidden("#error")
            assert TEST_METHOD in page.inner_text("#fact-method")
            assert page.inner_text("#fact-time").endswith("s")
            right_before = _stats(page, "canvas-before", 0.55, 0.95)
            right_after = _stats(page, "canvas-after", 0.55, 0.95)
            assert right_before["sum"] > 0 and right_after["painted"] > 0
            differing = sum(a != b for a, b in zip(right_before["samples"], right_after["samples"]))
            assert differing > 0.2 * len(right_before["samples"]), differing
            left_after = _stats(page, "canvas-after", 0.05, 0.45)
            assert left_after["painted"] == 0  # split at 50 %: the before image shows on the left

            # drag the split handle to about 25 %, then nudge it with the arrow keys
            viewer = page.locator("#viewer").bounding_box()
            handle = page.locator("#split-handle .grip").bounding_box()
            page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            page.mouse.down()
            page.mouse.move(viewer["x"] + viewer["width"] * 0.25, handle["y"] + 5, steps=5)
            page.mouse.up()
            assert abs(int(page.get_attribute("#split-handle", "aria-valuenow")) - 25) <= 2
            moved = _stats(page, "canvas-after", 0.05, 0.45)
            assert moved["painted"] > 0.3 * moved["total"]  # after image now covers most of the left half
            page.focus("#split-handle")
            value = int(page.get_attribute("#split-handle", "aria-valuenow"))
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            assert int(page.get_attribute("#split-handle", "aria-valuenow")) == value + 6

            # window / level: slider to the narrowest window, right-drag, then reset
            full = _stats(page, "canvas-before")
            page.focus("#wl-width")
            page.keyboard.press("Home")
            narrow = _stats(page, "canvas-before")
            assert narrow["samples"] != full["samples"]
            extreme = sum(v in (0, 255) for v in narrow["samples"])
            assert extreme > 0.9 * len(narrow["samples"])  # width 1: a hard threshold
            page.click("#wl-reset")
            assert _stats(page, "canvas-before")["samples"] == full["samples"]
            level = page.input_value("#wl-center")
            page.mouse.move(viewer["x"] + viewer["width"] * 0.6, viewer["y"] + viewer["height"] * 0.4)
            page.mouse.down(button="right")
            page.mouse.move(viewer["x"] + viewer["width"] * 0.7, viewer["y"] + viewer["height"] * 0.6, steps=4)
            page.mouse.up(button="right")
            assert page.input_value("#wl-center") != level
            assert _stats(page, "canvas-before")["samples"] != full["samples"]
            page.click("#wl-reset")

            # "b" toggles before / after; "s" back to split; wheel zooms; "r" resets
            page.focus("#viewer")
            page.keyboard.press("b")
            assert page.get_attribute("#viewer", "data-mode") == "before"
            assert _stats(page, "canvas-after")["painted"] == 0
            page.keyboard.press("b")
            assert page.get_attribute("#viewer", "data-mode") == "after"
            whole = _stats(page, "canvas-after")
            assert whole["painted"] > 0.5 * whole["total"]
            page.keyboard.press("s")
            assert page.get_attribute("#viewer", "data-mode") == "split"
            page.mouse.move(viewer["x"] + viewer["width"] * 0.5, viewer["y"] + viewer["height"] * 0.5)
            page.mouse.wheel(0, -600)
            zoomed = _stats(page, "canvas-before")
            assert zoomed["samples"] != full["samples"]
            page.focus("#viewer")
            page.keyboard.press("r")
            assert _stats(page, "canvas-before")["samples"] == full["samples"]
            assert page.get_attribute("#split-handle", "aria-valuenow") == "50"

            _viewer_tools(page, radiograph)

            # download the result: an 8-bit PNG for this 8-bit input, the pixels the API's PNG has
            assert page.is_hidden("#download-dicom")  # PNG input: no DICOM download
            with page.expect_download() as info:
                page.click("#download-png")
            saved = tmp_path / info.value.suggested_filename
            info.value.save_as(saved)
            assert saved.name == "00870a9c_deblurred.png"
            import httpx

            api_png = httpx.post(
                server.url + "/api/v1/deblur", params={"format": "png", "method": TEST_METHOD, "force": "1", "denoise": "1"},
                content=radiograph.read_bytes(), timeout=120,
            )
            with Image.open(saved) as result, Image.open(io.BytesIO(api_png.content)) as expected:
                assert result.size == (640, 524) and result.mode == expected.mode == "L"
                assert np.array_equal(np.asarray(result), np.asarray(expected))

            # a radiograph with a burned-in "R": the page says it was kept unchanged
            assert "burned-in" not in page.inner_text("#fact-safeguard")
            assert page.is_checked("#force-input")
            _upload_and_wait(page, TEST_METHOD, str(shared_data_file(LABELLED_RADIOGRAPH)))
            if page.is_visible("#notice"):  # a server that does not take force=1 yet: no blur, unchanged
                assert "No blur detected" in page.inner_text("#notice")
            else:
                assert "burned-in text/markers kept unchanged" in page.inner_text("#fact-safeguard")

            # blind, under motion: the page names the motion the noise was put back with
            # (the learned estimator's, where the restoration explains the input better under it)
            from xraydeblur.degrade import Degradation
            from xraydeblur.io import read_radiograph

            sharp = read_radiograph(shared_data_file("cxr/kermany/IM-0538-0001.jpeg")).pixels  # a validation image
            h, w = sharp.shape
            blurred, _ = Degradation("motion", {"length": 9.0, "angle": 30.0}).apply(sharp[h // 2 - 192 : h // 2 + 192, w // 2 - 192 : w // 2 + 192])
            png = io.BytesIO()
            Image.fromarray(np.round(blurred * 255).astype(np.uint8)).save(png, format="PNG")
            _upload_and_wait(page, "nafnet-blind", {"name": "motion.png", "mimeType": "image/png", "buffer": png.getvalue()})
            assert "noise put back under the motion length" in page.inner_text("#fact-blur"), page.inner_text("#fact-blur")
            page.select_option("#method-select", TEST_METHOD)

            # a known motion blur: family, length and angle reach the API and are shown
            assert page.is_hidden("#angle-field")
            page.select_option("#blur-kind", "motion")
            assert page.is_visible("#angle-field") and "length" in page.inner_text("#blur-size-label")
            page.fill("#sigma-input", "300")
            page.click("#run-button")
            assert "at most 128" in page.inner_text("#error")
            page.fill("#sigma-input", "9")
            page.fill("#angle-input", "30")
            assert page.is_hidden("#fact-datastep-row")  # the methods so far have no data step
            page.select_option("#method-select", DATA_STEP_TEST_METHOD)
            page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
            page.click("#run-button")
            page.wait_for_selector("#viewer[data-ready='true']", timeout=90_000)
            assert "given motion-length9-angle30" in page.inner_text("#fact-blur")
            # the server does not re-measure the output's blur: the page says so, not "n/a"
            assert "(after: not measured)" in page.inner_text("#fact-blur") and "n/a" not in page.inner_text("#fact-blur")
            assert page.is_visible("#fact-datastep-row") and "noise" in page.inner_text("#fact-datastep")
            page.select_option("#method-select", TEST_METHOD)

            # a measured PSF file goes with the image as a multipart form and is shown as given
            page.select_option("#blur-kind", "psf")
            assert page.is_hidden("#size-field") and page.is_hidden("#angle-field") and page.is_visible("#psf-field")
            page.click("#run-button")
            assert "Choose a PSF file" in page.inner_text("#error")
            page.set_input_files("#psf-input", {"name": "bad.npy", "mimeType": "application/octet-stream", "buffer": b"not a psf" * 4})
            page.click("#run-button")
            page.wait_for_function("() => document.getElementById('error').innerText.includes('422')", timeout=30_000)
            page.set_input_files("#psf-input", {"name": "focal_spot.npy", "mimeType": "application/octet-stream", "buffer": _gaussian_psf_npy(7, 1.2)})
            assert "focal_spot.npy" in page.inner_text("#psf-name")
            page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
            page.click("#run-button")
            page.wait_for_selector("#viewer[data-ready='true']", timeout=90_000)
            assert page.is_hidden("#error")
            assert "given measured PSF 7x7 px" in page.inner_text("#fact-blur")
            page.select_option("#blur-kind", "gaussian")
            assert page.is_visible("#size-field") and page.is_hidden("#psf-field")
            page.fill("#sigma-input", "")

            page.screenshot(path=str(artifacts / "browser.png"))
            if os.environ.get("XRAYDEBLUR_UPDATE_SCREENSHOT") == "1":
                _docs_screenshot(page, tmp_path)
        finally:
            browser.close()
    unexpected = [e for e in errors if "status of 415" not in e and "status of 422" not in e]  # the deliberate bad uploads
    assert not unexpected, unexpected
    assert list(server.tmpdir.iterdir()) == []


def _viewer_tools(page, radiograph: Path) -> None:
    """Readout, zoom, presets, invert, rotate/flip, side by side, difference, residual."""
    with Image.open(radiograph) as img:
        source = np.asarray(img.convert("L"))
    h, w = source.shape
    page.click("#view-reset")
    page.click("#wl-reset")
    page.click(".seg[data-mode='before']")
    box = _painted_box(page)
    assert abs((box["x1"] - box["x0"]) / (box["y1"] - box["y0"]) - w / h) < 0.02

    # readout: image coordinates and the stored values under the pointer; zoom in percent
    x, y, before, after = _hover_readout(page, (box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2)
    assert abs(x - w // 2) <= 2 and abs(y - h // 2) <= 2 and before == source[y, x]
    assert f"before {before}" in page.inner_text("#pixel-readout")
    def corner(at: dict, expected: tuple[int, int]) -> None:
        """The pixel just inside the top-left corner on screen is image pixel ``expected``."""
        x, y, before, _ = _hover_readout(page, at["x0"] + 0.6, at["y0"] + 0.6)
        assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1, (x, y, expected)
        assert before == source[y, x]

    corner(box, (0, 0))
    zoom = int(page.get_attribute("#viewer", "data-zoom"))
    assert f"Zoom {zoom}%" == page.inner_text("#zoom-readout")
    assert abs(zoom - 100 * (box["x1"] - box["x0"]) / w) <= 1
    page.click("#viewer")  # focus for the keys
    page.keyboard.press("+")
    assert abs(int(page.get_attribute("#viewer", "data-zoom")) - zoom * 1.25) <= 1
    page.keyboard.press("r")
    page.click(".seg[data-mode='before']")

    # presets: auto (histogram) by default for a PNG, full range, no file window
    assert page.input_value("#wl-preset") == "auto"
    assert page.is_disabled("#wl-preset option[value='file']")
    auto = page.get_attribute("#viewer", "data-window")
    page.select_option("#wl-preset", "full")
    assert page.get_attribute("#viewer", "data-window") == "128/256"
    page.select_option("#wl-preset", "auto")
    assert page.get_attribute("#viewer", "data-window") == auto
    lo, hi = np.percentile(source, [0.5, 99.5])
    center, width = (int(v) for v in auto.split("/"))
    assert abs(center - (lo + hi) / 2) <= 2 and abs(width - (hi - lo + 1)) <= 2

    # invert: the rendering is the negative; the readout still shows the stored values
    plain = _stats(page, "canvas-before")
    page.click("#invert")
    assert page.get_attribute("#invert", "aria-pressed") == "true"
    inverted = _stats(page, "canvas-before")
    assert abs(inverted["sum"] - (255 * plain["painted"] - plain["sum"])) < 0.01 * 255 * plain["painted"]
    corner(box, (0, 0))
    page.keyboard.press("i")
    assert _stats(page, "canvas-before")["sum"] == plain["sum"]

    # rotate right: the top-left corner on screen is the image's bottom-left pixel
    page.click("#rotate-right")
    assert page.get_attribute("#viewer", "data-orient") == "90"
    turned = _painted_box(page)
    assert abs((turned["x1"] - turned["x0"]) / (turned["y1"] - turned["y0"]) - h / w) < 0.02
    corner(turned, (0, h - 1))
    page.click("#rotate-left")
    # flip left-right: the top-left corner on screen is the image's top-right pixel
    page.click("#flip-h")
    corner(box, (w - 1, 0))
    page.click("#flip-h")
    page.click("#flip-v")
    corner(box, (0, h - 1))
    page.click("#view-reset")
    assert page.get_attribute("#viewer", "data-orient") == "0"

    # side by side: before on the left half, after on the right, pan and zoom linked
    page.click(".seg[data-mode='side']")
    left, right = _painted_box(page, "canvas-before"), _painted_box(page, "canvas-after")
    viewer = page.locator("#viewer").bounding_box()
    assert left["x1"] <= viewer["width"] / 2 + 1 and right["x0"] >= viewer["width"] / 2 - 1
    assert abs((right["x0"] - viewer["width"] / 2) - left["x0"]) < 2 and abs(right["y0"] - left["y0"]) < 1
    page.mouse.move(viewer["x"] + viewer["width"] * 0.75, viewer["y"] + viewer["height"] / 2)
    page.mouse.wheel(0, -400)
    left, right = _painted_box(page, "canvas-before"), _painted_box(page, "canvas-after")
    assert abs(right["y0"] - left["y0"]) < 1  # the same zoom and pan in both panes
    a = _hover_readout(page, viewer["width"] * 0.25, viewer["height"] / 2)
    b = _hover_readout(page, viewer["width"] * 0.75 + 1, viewer["height"] / 2)
    assert abs(a[0] - b[0]) <= 1 and a[1] == b[1]  # the same image point under both panes
    page.click("#view-reset")

    # difference (after - before): mid grey where nothing changed
    page.click(".seg[data-mode='diff']")
    assert "after − before" in page.inner_text("#tag-after")
    diff = _stats(page, "canvas-after")
    assert diff["painted"] > 0 and _stats(page, "canvas-before")["painted"] == 0
    assert 60 < diff["sum"] / diff["painted"] < 200
    # the safeguard's residual map (the answer carries one: the safeguard ran), in colour
    assert page.is_enabled(".seg[data-mode='residual']")
    page.click(".seg[data-mode='residual']")
    assert page.get_attribute("#viewer", "data-mode") == "residual" and "residual" in page.inner_text("#tag-after")
    coloured = page.evaluate("""() => {
      const c = document.getElementById("canvas-after"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) n++;
      return n;
    }""")
    assert coloured > 0
    page.click(".seg[data-mode='split']")


def _docs_screenshot(page, tmp_path) -> None:
    """docs/screenshot.png: the page with a 512 px crop of a CC BY 3.0 radiograph (MHH
    COVID-19 image repository), deblurred by the shipped default method. The crop stays in
    memory; the file is a picture of the page, not of the data."""
    with Image.open(shared_data_file(RADIOGRAPH)) as img:
        crop = np.asarray(img.convert("L"))[6:518, 64:576]
    methods = page.eval_on_selector_all("#method-select option", "els => els.map(e => e.value)")
    method = next((m for m in methods if m and not m.startswith("test-")), TEST_METHOD)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.check("#force-input")
    _upload_and_wait(page, method, {"name": "mhh-00870a9c-crop.png", "mimeType": "image/png", "buffer": _png_bytes(crop)})
    page.click("#view-reset")
    page.select_option("#wl-preset", "full")
    viewer = page.locator("#viewer").bounding_box()
    page.mouse.move(viewer["x"] + viewer["width"] * 0.62, viewer["y"] + viewer["height"] * 0.45)
    target = PROJECT_ROOT / "docs" / "screenshot.png"
    target.parent.mkdir(exist_ok=True)
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.quantize(colors=160, dither=Image.Dither.NONE).save(target, optimize=True)  # small file
    assert target.stat().st_size < 300_000, target.stat().st_size


def test_display_safety_never_shows_an_image_under_another_files_name(live_server):
    """Choosing another file clears the view at once; an error keeps it clear; a late
    answer for an earlier file is never shown (and never under the new name)."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    server = live_server({"XRAYDEBLUR_TEST_DELAY": "2.0"})
    first = _png_bytes(np.tile(np.linspace(20, 230, 96).astype(np.uint8), (80, 1)))  # 96 x 80
    second = _png_bytes(np.tile(np.linspace(230, 20, 64).astype(np.uint8)[:, None], (1, 112)))  # 112 x 64
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            for width in (390, 1440):
                page = _open_page(browser, server, width)
                page.check("#force-input")
                # every (file name, size) the view ever shows together
                page.evaluate("""() => {
                  window.shown = [];
                  const v = document.getElementById("viewer");
                  new MutationObserver(() => {
                    if (v.dataset.ready === "true") window.shown.push([v.dataset.file, document.getElementById("fact-image").innerText]);
                  }).observe(v, { attributes: true, attributeFilter: ["data-ready"] });
                }""")
                _upload_and_wait(page, TEST_METHOD, {"name": "first.png", "mimeType": "image/png", "buffer": first})
                assert page.inner_text("#identity").strip() == "first.png"
                assert _stats(page, "canvas-before")["painted"] > 0

                # another file: the view is empty the moment it is chosen, while it is processed
                page.select_option("#method-select", SLOW_TEST_METHOD)
                page.set_input_files("#file-input", {"name": "second.png", "mimeType": "image/png", "buffer": second})
                assert page.get_attribute("#viewer", "data-ready") == "false"
                assert _stats(page, "canvas-before")["painted"] == 0 and _stats(page, "canvas-after")["painted"] == 0
                assert page.is_hidden("#identity") and page.inner_text("#fact-method") == "–"
                assert "second.png" in page.inner_text("#empty-state")
                assert page.is_disabled("#download-png")

                # while "second" is processed, a third (broken) file is chosen: second's late answer is
                # dropped, the error is shown, and the view stays clear
                page.set_input_files("#file-input", {"name": "third.png", "mimeType": "image/png", "buffer": b"no image" * 30})
                page.wait_for_selector("#error:not([hidden])", timeout=30_000)
                assert "Error 415" in page.inner_text("#error")
                page.wait_for_timeout(3000)  # longer than second's processing: its answer would be here by now
                assert page.get_attribute("#viewer", "data-ready") == "false"
                assert _stats(page, "canvas-before")["painted"] == 0 and page.is_hidden("#identity")
                assert "third.png" in page.inner_text("#empty-state")

                # a late answer for an earlier request, held back until a newer one was shown
                held = []
                page.route("**/api/v1/deblur*", lambda route: held.append(route) if not held else route.continue_())
                page.select_option("#method-select", TEST_METHOD)
                page.set_input_files("#file-input", {"name": "fourth.png", "mimeType": "image/png", "buffer": first})
                while not held:
                    page.wait_for_timeout(50)
                page.set_input_files("#file-input", {"name": "fifth.png", "mimeType": "image/png", "buffer": second})
                page.wait_for_selector("#viewer[data-ready='true']", timeout=60_000)
                try:
                    held[0].continue_()  # the page has given up on it: it may never arrive
                except Exception:
                    pass
                page.wait_for_timeout(1500)
                page.unroute("**/api/v1/deblur*")
                assert page.inner_text("#identity").strip() == "fifth.png"
                shown = page.evaluate("window.shown")
                assert shown == [["first.png", "96×80, 8-bit PNG"], ["fifth.png", "112×64, 8-bit PNG"]], shown
                page.context.close()
        finally:
            browser.close()


LAYOUT_CHECK = """() => {
  const root = document.documentElement, vw = root.clientWidth;
  const box = (id) => document.getElementById(id).getBoundingClientRect();
  const panel = document.querySelector(".panel");
  const overflowing = Array.from(document.querySelectorAll("body *"))
    .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > vw + 0.5)
    .map((e) => e.id || e.className || e.tagName).slice(0, 5);
  return {
    scrollWidth: root.scrollWidth, clientWidth: vw, overflowing,
    run: box("run-button"), display: box("h-display"), viewer: box("viewer"), wl: box("wl-preset"),
    panelScrolls: panel.scrollHeight > panel.clientHeight + 1 && getComputedStyle(panel).overflowY !== "visible",
  };
}"""


@pytest.mark.parametrize("width,height", [(360, 740), (390, 844), (1440, 900), (3840, 2160)])
def test_layout_has_no_horizontal_scrolling(live_server, width, height):
    """From a phone to 4K: no horizontal scrolling, the Deblur button whole, the display
    controls reachable, and no panel that scrolls on its own on a phone."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    server = live_server({"XRAYDEBLUR_TEST_DELAY": "0.1"})
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _open_page(browser, server, width, height)
            for state in ("empty", "result"):
                if state == "result":
                    page.check("#force-input")
                    _upload_and_wait(page, TEST_METHOD, {"name": "a-long-file-name-from-a-scanner-export-0001.png",
                                                          "mimeType": "image/png", "buffer": _png_bytes(np.full((90, 120), 100, np.uint8))})
                    page.click(".seg[data-mode='side']")
                layout = page.evaluate(LAYOUT_CHECK)
                assert layout["scrollWidth"] <= layout["clientWidth"], layout
                assert not layout["overflowing"], layout
                run = layout["run"]
                assert run["left"] >= 0 and run["right"] <= width and run["width"] > 0.5 * min(width, 260), run
                page.locator("#run-button").scroll_into_view_if_needed()
                assert page.is_visible("#run-button") and page.is_visible("#wl-preset") and page.is_visible(".seg[data-mode='diff']")
                assert layout["viewer"]["width"] >= min(width, 1440) * 0.5 and layout["viewer"]["height"] >= 280, layout["viewer"]
                if width < 900:
                    assert not layout["panelScrolls"], layout  # the page scrolls, not a box inside it
            artifacts = PROJECT_ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / f"layout-{width}.png"), full_page=width < 1000)
        finally:
            browser.close()


def test_dicom_identity_file_window_readout_and_download(live_server, tmp_path):
    """A 10-bit MONOCHROME1 DICOM: its identity over the image, the file's own window as
    the default preset, the readout in stored and modality values, the derived DICOM."""
    _need_chromium()
    import pydicom
    from playwright.sync_api import sync_playwright

    from xraydeblur.io import read_radiograph

    path = shared_data_file("dicom/CR-MONO1-10-chest.dcm")
    rad = read_radiograph(path.read_bytes())
    stored = np.rint((1.0 - rad.pixels.astype(np.float64)) * 1023).astype(int)  # MONOCHROME1: flipped for display
    server = live_server({"XRAYDEBLUR_TEST_DELAY": "0.1"})
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _open_page(browser, server, 390, 844)
            page.check("#force-input")
            _upload_and_wait(page, TEST_METHOD, str(path))
            identity = page.inner_text("#identity")
            assert path.name in identity and "Anonymized" in identity  # PatientName as the file holds it
            # the file's window (centre 550, width 1024 in modality units) is the default preset
            assert page.input_value("#wl-preset") == "file" and page.is_enabled("#wl-preset option[value='file']")
            assert page.get_attribute("#viewer", "data-window") == f"{1023 - 550}/1024"
            page.select_option("#wl-preset", "full")
            assert page.get_attribute("#viewer", "data-window") == "512/1024"
            page.click("#wl-reset")
            assert page.input_value("#wl-preset") == "file"
            page.click(".seg[data-mode='before']")
            box = _painted_box(page)
            x, y, before, _ = _hover_readout(page, (box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2)
            value = stored[y, x]
            assert before == 1023 - value
            assert f"before stored {value} → {value}" in page.inner_text("#pixel-readout")  # slope 1, intercept 0
            with page.expect_download() as info:
                page.click("#download-dicom")
            saved = tmp_path / "out.dcm"
            info.value.save_as(saved)
            assert info.value.suggested_filename == "CR-MONO1-10-chest_deblurred.dcm"
            derived = pydicom.dcmread(saved)
            assert derived.Rows == 440 and "DERIVED" in derived.ImageType and derived.PhotometricInterpretation == "MONOCHROME1"
            x, y, _, after = _hover_readout(page, box["x0"] + 40, box["y0"] + 50)
            assert int(derived.pixel_array[y, x]) == 1023 - after
            # the PNG of a 10-bit result is 16-bit (as format=png): the values scaled to 0..65535
            with page.expect_download() as info:
                page.click("#download-png")
            info.value.save_as(tmp_path / "out.png")
            with Image.open(tmp_path / "out.png") as png:
                assert png.mode.startswith("I;16") and png.size == (440, 440)
                assert int(np.asarray(png)[y, x]) == round(after * 65535 / 1023)
        finally:
            browser.close()


def test_no_blur_notice_denoise_and_force_reach_the_api(live_server):
    """The denoise slider and the force box are sent; an unchanged answer says so."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    server = live_server({"XRAYDEBLUR_TEST_DELAY": "0.1"})
    flat = _png_bytes(np.full((64, 80), 120, np.uint8))
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _open_page(browser, server, 1440)
            sent = []
            page.on("request", lambda request: sent.append(request.url) if "/api/v1/deblur" in request.url else None)
            page.fill("#denoise-input", "0.5")
            assert page.inner_text("#denoise-value") == "0.50"
            _upload_and_wait(page, TEST_METHOD, {"name": "flat.png", "mimeType": "image/png", "buffer": flat})
            assert "denoise=0.5" in sent[-1] and "force" not in sent[-1]
            body = page.evaluate("document.getElementById('notice').hidden")
            unchanged = _api_json(server, flat, denoise="0.5").get("unchanged")
            if unchanged is not None:  # the server knows the no-blur rule
                assert body is (not unchanged)
                if unchanged:
                    assert "No blur detected: the image is returned unchanged (tick 'Deblur even if no blur is detected' to force)" in page.inner_text("#notice")
            page.check("#force-input")
            page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
            page.click("#run-button")
            page.wait_for_selector("#viewer[data-ready='true']", timeout=60_000)
            assert "force=1" in sent[-1]
            if _api_json(server, flat, force="1").get("force") is True:  # the server honours force=1
                assert page.is_hidden("#notice")
        finally:
            browser.close()


def _api_json(server, data: bytes, **params) -> dict:
    """The API's JSON answer for ``data`` with the test method."""
    import httpx

    response = httpx.post(server.url + "/api/v1/deblur", params={"format": "json", "method": TEST_METHOD, **params}, content=data, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _with_header(body: bytes, **facts) -> bytes:
    """The page's binary answer (``XDV1``, header length, JSON header, arrays) with
    ``facts`` set in its JSON header; the arrays' offsets are relative to their own
    block, so they stay valid."""
    import json
    import struct

    assert body[:4] == b"XDV1"
    length = struct.unpack("<I", body[4:8])[0]
    header = json.loads(body[8 : 8 + length])
    header.update(facts)
    raw = json.dumps(header).encode()
    return b"XDV1" + struct.pack("<I", len(raw)) + raw + body[8 + length :]


def test_the_page_names_the_psf_found_and_the_width_restored_with(live_server):
    """An answer whose learned estimate restored a Gaussian narrower than found (the
    rule's width factor) shows both: the PSF identified with its confidence, and the
    width restored with; an estimate not trusted says "blind" and no width; one whose
    restoration failed the safeguard (the server then restored blind) says so."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    server = live_server({"XRAYDEBLUR_TEST_DELAY": "0.1"})
    image = _png_bytes(np.full((64, 80), 120, np.uint8))
    found = {"estimator": "learned", "family": "gaussian", "params": {"sigma": 2.0}, "label": "gaussian sigma 2.00 px", "confidence": 0.93,
             "min_confidence": 0.65, "trusted": True, "restored_with": {"sigma": 1.82}}
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = _open_page(browser, server, 1440)
            rejected = {"reason": "the restoration under the identified PSF failed the safeguard: restored blind instead", "safeguard": {"score": 0.93}}
            answers = [{"psf_identified": found}, {"psf_identified": {**found, "trusted": False}},
                       {"psf_identified": {**found, "used": False}, "psf_rejected": rejected}]
            page.route("**/api/v1/deblur*", lambda route: route.fulfill(response=(r := route.fetch()), body=_with_header(r.body(), kernel=None, **answers.pop(0))))
            _upload_and_wait(page, TEST_METHOD, {"name": "a.png", "mimeType": "image/png", "buffer": image})
            blur = page.inner_text("#fact-blur")
            assert "identified gaussian sigma 2.00 px, confidence 93 %, restored with sigma 1.82 px" in blur, blur
            _upload_and_wait(page, TEST_METHOD, {"name": "b.png", "mimeType": "image/png", "buffer": image})
            blur = page.inner_text("#fact-blur")
            assert "not trusted: blind" in blur and "restored with" not in blur, blur
            _upload_and_wait(page, TEST_METHOD, {"name": "c.png", "mimeType": "image/png", "buffer": image})
            blur = page.inner_text("#fact-blur")
            assert "rejected: its restoration failed the safeguard, restored blind" in blur and "restored with" not in blur, blur
        finally:
            browser.close()
