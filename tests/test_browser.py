"""End-to-end test of the web page: real server (uvicorn subprocess) + Debian chromium.

Needs /usr/bin/chromium (skipped without it, failed when CI=true) and a shared MHH
radiograph (skipped without it, failed when XRAYDEBLUR_REQUIRE_DATA=1). Saves a
screenshot to test-artifacts/browser.png; with XRAYDEBLUR_UPDATE_SCREENSHOT=1 also
renders a synthetic demo (never a shared radiograph) to docs/screenshot.png.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT_ROOT, TEST_METHOD, shared_data_file

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


def demo_phantom(h: int = 416, w: int = 512) -> bytes:
    """A synthetic chest-like 16-bit PNG (body, lungs, heart, spine, ribs, nodules, a
    catheter line), blurred and slightly noisy: a demo that is no real radiograph."""
    from scipy.ndimage import gaussian_filter

    y, x = np.mgrid[0:h, 0:w].astype(np.float64) / np.array([h, w])[:, None, None]
    img = np.full((h, w), 0.06)
    img[((x - 0.5) / 0.47) ** 2 + ((y - 0.62) / 0.62) ** 2 < 1] = 0.62  # body
    lungs = np.zeros((h, w), bool)
    for cx in (0.31, 0.69):
        lungs |= ((x - cx) / 0.165) ** 2 + ((y - 0.5) / 0.34) ** 2 < 1
    img[lungs] = 0.28
    img[((x - 0.56) / 0.13) ** 2 + ((y - 0.66) / 0.16) ** 2 < 1] = 0.7  # heart
    img[np.abs(x - 0.5) < 0.032] = 0.82  # spine
    for k in range(8):  # ribs: arcs sloping down away from the spine
        arc = 0.16 + 0.075 * k + 1.4 * (x - 0.5) ** 2
        img[(np.abs(y - arc) < 0.011) & lungs & (img < 0.5)] += 0.14
    for cx, cy, r in ((0.27, 0.42, 0.018), (0.72, 0.58, 0.012), (0.64, 0.33, 0.008)):
        img[((x - cx) ** 2 + (y - cy) ** 2) < r * r] += 0.22  # nodules
    img[(np.abs(x - 0.2 - 0.25 * y) < 0.003) & (y > 0.15) & (y < 0.75)] = 0.95  # catheter
    img = gaussian_filter(img, 2.2) + np.random.default_rng(7).normal(0, 0.002, (h, w))
    buf = io.BytesIO()
    Image.fromarray(np.rint(np.clip(img, 0, 1) * 65535).astype(np.uint16)).save(buf, "PNG")
    return buf.getvalue()


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
            context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
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

            # upload a real radiograph and wait for the comparison
            _upload_and_wait(page, TEST_METHOD, str(radiograph))
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

            # download the result and decode it
            assert page.is_hidden("#download-dicom")  # PNG input: no DICOM download
            with page.expect_download() as info:
                page.click("#download-png")
            saved = tmp_path / info.value.suggested_filename
            info.value.save_as(saved)
            assert saved.name.endswith("_deblurred.png")
            with Image.open(saved) as result:
                assert result.size == (640, 524)
                result.load()

            # a radiograph with a burned-in "R": the page says it was kept unchanged
            assert "burned-in" not in page.inner_text("#fact-safeguard")
            _upload_and_wait(page, TEST_METHOD, str(shared_data_file(LABELLED_RADIOGRAPH)))
            assert "burned-in text/markers kept unchanged" in page.inner_text("#fact-safeguard")

            # a known motion blur: family, length and angle reach the API and are shown
            assert page.is_hidden("#angle-field")
            page.select_option("#blur-kind", "motion")
            assert page.is_visible("#angle-field") and "length" in page.inner_text("#blur-size-label")
            page.fill("#sigma-input", "300")
            page.click("#run-button")
            assert "at most 128" in page.inner_text("#error")
            page.fill("#sigma-input", "9")
            page.fill("#angle-input", "30")
            page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
            page.click("#run-button")
            page.wait_for_selector("#viewer[data-ready='true']", timeout=90_000)
            assert "given motion-length9-angle30" in page.inner_text("#fact-blur")

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


def _docs_screenshot(page, tmp_path) -> None:
    """docs/screenshot.png: the page with a synthetic demo (no shared radiograph)."""
    methods = page.eval_on_selector_all("#method-select option", "els => els.map(e => e.value)")
    method = next((m for m in methods if not m.startswith("test-")), TEST_METHOD)
    _upload_and_wait(page, method, {"name": "demo-phantom.png", "mimeType": "image/png", "buffer": demo_phantom()})
    page.locator("#split-handle").focus()
    page.mouse.move(0, 0)
    target = PROJECT_ROOT / "docs" / "screenshot.png"
    target.parent.mkdir(exist_ok=True)
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.quantize(colors=192, dither=Image.Dither.NONE).save(target, optimize=True)  # small file
    assert target.stat().st_size < 300_000, target.stat().st_size
