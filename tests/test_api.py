"""REST API tests (FastAPI TestClient, small synthetic images, in-process)."""

import asyncio
import base64
import io
import logging
import os
import struct
import tempfile
import threading
import time
import zlib

import warnings

import numpy as np
import pytest
from PIL import Image

with warnings.catch_warnings():  # Starlette's notice about httpx vs httpx2, not about this code
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import SLOW_TEST_METHOD, TEST_METHOD, shared_data_file
from xraydeblur.server import create_app

H, W = 72, 88  # small and non-square, so a transposition would show


# ---------- synthetic images ----------
def phantom(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """Smooth [0, 1] test image: gradient, two disks, a bar, a little noise."""
    from scipy.ndimage import gaussian_filter

    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 0.2 + 0.4 * x / w
    img[(x - w * 0.3) ** 2 + (y - h * 0.4) ** 2 < (h * 0.18) ** 2] += 0.3
    img[(x - w * 0.7) ** 2 + (y - h * 0.6) ** 2 < (h * 0.12) ** 2] -= 0.15
    img[int(h * 0.75):int(h * 0.8), int(w * 0.1):int(w * 0.9)] += 0.2
    img = gaussian_filter(img, 1.5) + np.random.default_rng(seed).normal(0, 0.01, (h, w))
    return np.clip(img, 0, 1)


def encode(fmt: str, values: np.ndarray | None = None) -> bytes:
    img = phantom() if values is None else values
    buf = io.BytesIO()
    if fmt == "png8":
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(buf, "PNG")
    elif fmt == "png16":
        Image.fromarray(np.rint(img * 65535).astype(np.uint16)).save(buf, "PNG")
    elif fmt == "jpeg":
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(buf, "JPEG", quality=95)
    elif fmt == "tiff16":
        Image.fromarray(np.rint(img * 65535).astype(np.uint16)).save(buf, "TIFF")
    else:
        raise ValueError(fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height (8-bit grey) but carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# ---------- fixtures ----------
@pytest.fixture
def make_client(test_methods):
    """Factory for a TestClient around a fresh app with the given limits."""
    clients = []

    def make(**limits) -> TestClient:
        client = TestClient(create_app(**{"queue_timeout": 10.0, **limits}), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def post(client, data, *, method=TEST_METHOD, accept=None, **params):
    headers = {"Content-Type": "application/octet-stream"}
    if accept:
        headers["Accept"] = accept
    if method:
        params["method"] = method
    return client.post("/api/v1/deblur", content=data, params=params, headers=headers)


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    assert "Traceback" not in response.text and 'File "' not in response.text
    return detail


# ---------- success paths ----------
def test_healthz_and_models(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.headers["cache-control"] == "no-store"
    models = client.get("/api/v1/models").json()
    names = [m["name"] for m in models["methods"]]
    assert TEST_METHOD in names
    assert [m["default"] for m in models["methods"]].count(True) == 1
    assert models["default"] == names[0] and models["methods"][0]["default"]
    for m in models["methods"]:
        assert {"name", "version", "weights_sha256", "description", "kind"} <= set(m)
    assert models["limits"]["max_upload_bytes"] > 0 and models["limits"]["max_pixels"] > 0


@pytest.mark.parametrize("fmt, bits", [("png8", 8), ("png16", 16), ("jpeg", 8), ("tiff16", 16)])
def test_deblur_rasters_to_png(client, fmt, bits):
    response = post(client, encode(fmt))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-method"] == TEST_METHOD
    assert float(response.headers["x-processing-seconds"]) >= 0
    for name in ("x-estimated-blur-before", "x-estimated-blur-after"):
        value = response.headers[name]
        assert value == "n/a" or float(value) >= 0
    out = decode_png(response.content)
    assert out.shape == (H, W)
    assert out.dtype == (np.uint8 if bits == 8 else np.uint16)
    # the test method sharpens: output differs from input but keeps its mean level
    reference = np.rint(phantom() * (255 if bits == 8 else 65535))
    assert not np.array_equal(out, reference)
    assert abs(out.mean() - reference.mean()) < 0.05 * reference.mean()


def test_json_response_carries_metadata_and_exact_pixels(client):
    values = np.rint(phantom() * 65535).astype(np.uint16)
    response = post(client, encode("png16"), accept="application/json", pixels="true")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    for key in (
        "method", "method_version", "weights_sha256", "width", "height", "bits", "seconds",
        "estimated_blur_before", "estimated_blur_after", "sharpness_before", "sharpness_after", "safeguard", "result_png",
    ):
        assert key in body, key
    assert (body["method"], body["width"], body["height"], body["bits"], body["value_max"]) == (TEST_METHOD, W, H, 16, 65535)
    assert body["sharpness_after"] > body["sharpness_before"]  # the unsharp mask sharpens
    result = decode_png(base64.b64decode(body["result_png"]))
    assert result.dtype == np.uint16 and result.shape == (H, W)
    before = np.frombuffer(base64.b64decode(body["before_u16"]), "<u2").reshape(H, W)
    after = np.frombuffer(base64.b64decode(body["after_u16"]), "<u2").reshape(H, W)
    assert np.array_equal(before, values)  # the input, exactly, on its own scale
    assert np.array_equal(after, result)
    assert "result_dicom" not in body
    # without ?pixels the raw arrays are left out
    lean = post(client, encode("png16"), format="json").json()
    assert "before_u16" not in lean and "result_png" in lean


def test_burned_in_text_is_returned_unchanged_and_reported(client):
    from xraydeblur.data.overlays import burned_in_text
    from xraydeblur.overlay import burned_in_mask

    labelled, _ = burned_in_text(phantom().astype(np.float32), "AP", top=6, left=6, height=12)
    values = np.rint(labelled * 65535).astype(np.uint16)
    response = post(client, encode("png16", labelled), accept="application/json", pixels="true", force="true")
    assert response.status_code == 200, response.text
    body = response.json()
    mask = burned_in_mask(values / 65535.0)
    assert mask.sum() > 20 and body["safeguard"]["overlay_px"] == int(mask.sum())
    assert response.headers["x-burned-in-overlay-px"] == str(int(mask.sum()))
    after = np.frombuffer(base64.b64decode(body["after_u16"]), "<u2").reshape(H, W)
    assert np.array_equal(after[mask], values[mask])  # the label, exactly as sent
    assert not np.array_equal(after[~mask], values[~mask])  # the rest was processed


def test_json_for_8bit_input_uses_8bit_scale(client):
    body = post(client, encode("png8"), format="json", pixels=1).json()
    assert body["bits"] == 8 and body["value_max"] == 255
    before = np.frombuffer(base64.b64decode(body["before_u16"]), "<u2")
    assert before.max() <= 255
    assert np.array_equal(before.reshape(H, W), np.rint(phantom() * 255))


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, "image/png"),
        ("*/*", "image/png"),
        ("image/png", "image/png"),
        ("application/json", "application/json"),
        ("application/dicom, image/png;q=0.5", "image/png"),  # DICOM impossible for PNG input
        ("text/html, application/json;q=0.9", "application/json"),
    ],
)
def test_accept_negotiation(client, accept, expected):
    response = post(client, encode("png8"), accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(expected)


def test_multipart_upload(client):
    files = {"file": ("scan.png", encode("png8"), "image/png")}
    response = client.post("/api/v1/deblur", params={"method": TEST_METHOD}, files=files)
    assert response.status_code == 200, response.text
    assert decode_png(response.content).shape == (H, W)


def test_measured_psf_in_a_multipart_field_is_the_kernel(client, monkeypatch):
    """A measured PSF sent as multipart field "psf" (.npy or 16-bit PNG, read in memory)
    reaches the method normalised; the JSON names it; a bad PSF or a PSF with kernel
    query parameters is a one-line 422; nothing is written to disk."""
    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.methods import default_method, get_method

    seen = []
    monkeypatch.setattr(get_method(TEST_METHOD), "run", lambda image, kernel: seen.append(kernel) or image)
    truth = gaussian_kernel(1.5)
    npy = io.BytesIO()
    np.save(npy, 3.0 * truth)
    png = io.BytesIO()
    Image.fromarray(np.rint(truth / truth.max() * 65535).astype(np.uint16)).save(png, "PNG")
    image = ("scan.png", encode("png8"), "image/png")
    for psf, atol in ((npy.getvalue(), 1e-12), (png.getvalue(), 1e-5)):
        response = client.post("/api/v1/deblur", params={"method": TEST_METHOD, "format": "json"}, files={"file": image, "psf": ("psf", psf)})
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(seen[-1], truth, atol=atol)
        body = response.json()
        assert body["blind"] is False and body["kernel"] == f"measured PSF {truth.shape[0]}x{truth.shape[1]} px"
    bad = io.BytesIO()
    np.save(bad, np.ones((4, 4)))
    for psf, params, words in [
        (bad.getvalue(), {}, "odd"),
        (b"not a psf", {}, "cannot read a PSF"),
        (b"", {}, "empty"),
        (npy.getvalue(), {"sigma": 2}, "not both"),
    ]:
        response = client.post("/api/v1/deblur", params={"method": TEST_METHOD, **params}, files={"file": image, "psf": ("psf", psf)})
        assert response.status_code == 422 and words in response.json()["detail"], response.text
        assert len(response.json()["detail"].splitlines()) == 1
    # no method named and a measured PSF: the kernel-aware default, as with sigma
    response = client.post("/api/v1/deblur", params={"format": "json"}, files={"file": image, "psf": ("psf", npy.getvalue())})
    assert response.status_code == 200 and response.json()["method"] == default_method(kernel_known=True)


def test_known_sigma_and_default_method(client):
    response = post(client, encode("png8"), sigma=1.5)
    assert response.status_code == 200, response.text
    # no method named: the server's default (the best registered method, classical or not)
    default = client.get("/api/v1/models").json()["default"]
    response = post(client, encode("png8"), method=None, accept="application/json")
    assert response.status_code == 200, response.text
    assert response.json()["method"] == default == response.headers["x-method"]
    # a known sigma and no method named: the best kernel-aware network, if one is shipped
    from xraydeblur.methods import default_method

    response = post(client, encode("png8"), method=None, accept="application/json", sigma=1.5)
    assert response.status_code == 200, response.text
    assert response.json()["method"] == default_method(kernel_known=True)
    if "nafnet-kernel" in [m["name"] for m in client.get("/api/v1/models").json()["methods"]]:
        assert response.json()["method"] == "nafnet-kernel"


def test_identified_psf_is_reported_and_checked_by_the_safeguard(client):
    """A method that identifies the PSF itself (nafnet-psf) gets the identified kernel,
    the JSON names it, and the safeguard re-blurs with it; the request stays blind."""
    from conftest import motion_blurred_scene
    from xraydeblur.methods import Method, _REGISTRY, register

    seen = []
    register(Method("test-identify", "records its kernel", "network", lambda img, k: seen.append(k) or img, rank=-1000, identifies_psf=True))
    try:
        _, blurred, _ = motion_blurred_scene()
        response = post(client, encode("png16", blurred), method="test-identify", accept="application/json")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["blind"] is True and body["psf_identified"]["trusted"] and body["psf_identified"]["family"] == "motion"
        assert body["safeguard"]["kernel_source"] == "identified" and seen[-1] is not None
        assert post(client, encode("png8"), accept="application/json").json()["psf_identified"] is None  # other methods
    finally:
        _REGISTRY.pop("test-identify", None)


def test_a_blind_answer_names_the_motion_the_noise_was_put_back_with(client):
    """Blind, the pipeline re-blurs with the learned estimator's straight motion when it
    trusts one and the restoration explains the input better under it: the JSON says
    so (``blind_psf``, the safeguard's ``kernel_source`` "learned"), the page shows it."""
    from conftest import motion_blurred_scene
    from xraydeblur.methods import Method, _REGISTRY, register

    sharp, blurred, _ = motion_blurred_scene()
    register(Method("test-oracle", "returns the sharp scene", "network", lambda img, k: sharp, rank=-1000))
    try:
        body = post(client, encode("png16", blurred), method="test-oracle", accept="application/json", force="1").json()
        assert body["blind_psf"]["used"] and body["blind_psf"]["family"] == "motion", body["blind_psf"]
        assert body["safeguard"]["kernel_source"] == "learned"
        unblurred = post(client, encode("png8"), accept="application/json", force="1").json()
        assert unblurred["blind_psf"] is None or not unblurred["blind_psf"]["used"]
    finally:
        _REGISTRY.pop("test-oracle", None)


def test_the_answer_says_what_the_data_step_did(client):
    """A method with the kernel-aware data step, given a kernel: the JSON carries its
    rule, measured noise and a summary, and the X-Data-Step header the summary; a
    method without one says nothing."""
    from conftest import DATA_STEP_TEST_METHOD

    data = encode("png8")
    response = post(client, data, method=DATA_STEP_TEST_METHOD, accept="application/json", kernel="motion", length=9, angle=30)
    assert response.status_code == 200, response.text
    step = response.json()["data_step"]
    assert step["rule"] in ("morozov", "learned", "tuned") and step["noise_sigma"] >= 0 and step["summary"] == response.headers["X-Data-Step"]
    response = post(client, data, accept="application/json", kernel="motion", length=9, angle=30)
    assert response.json()["data_step"] is None and "X-Data-Step" not in response.headers


def test_known_kernel_families_reach_the_method(client, monkeypatch):
    """?kernel=motion&length=9&angle=30 (and disk, exponential, anisotropic) pass that PSF
    to the method, name it in the JSON, and pick the kernel-aware default; bad kernel
    parameters are a one-line 422."""
    from xraydeblur.degrade import Degradation
    from xraydeblur.methods import default_method, get_method

    seen = []
    method = get_method(TEST_METHOD)
    monkeypatch.setattr(method, "run", lambda image, kernel: seen.append(kernel) or image)
    data = encode("png8")
    for params, spec in [
        ({"kernel": "motion", "length": 9, "angle": 30}, Degradation("motion", {"length": 9.0, "angle": 30.0})),
        ({"kernel": "disk", "radius": 2}, Degradation("disk", {"radius": 2.0})),
        ({"kernel": "exponential", "scale": 1.5}, Degradation("exponential", {"scale": 1.5})),
        ({"kernel": "anisotropic", "sigma": 2, "sigma_y": 1, "angle": 45}, Degradation("anisotropic", {"sigma": 2.0, "sigma_y": 1.0, "angle": 45.0})),
        ({"sigma": 1.5}, Degradation("gaussian", {"sigma": 1.5})),
    ]:
        response = post(client, data, accept="application/json", **params)
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(seen[-1], spec.kernel())
        assert response.json()["kernel"] == spec.name and response.json()["blind"] is False
    response = post(client, data, method=None, accept="application/json", kernel="motion", length=9)
    assert response.status_code == 200 and response.json()["method"] == default_method(kernel_known=True)
    assert post(client, data, accept="application/json").json()["kernel"] is None
    for params, words in [
        ({"kernel": "motion"}, "needs length"),
        ({"length": 9}, "needs kernel="),
        ({"kernel": "motion", "length": 9, "radius": 2}, "not radius"),
        ({"kernel": "motion", "length": 500}, "at most 128"),
        ({"kernel": "disk", "radius": "nan"}, "radius must be"),
        ({"kernel": "swirl", "length": 3}, "unknown kernel"),
        ({"kernel": "trajectory", "length": 5}, "unknown kernel"),
    ]:
        assert words in assert_error(post(client, data, **params), 422)
    assert client.get("/api/v1/models").json()["limits"]["kernels"]["motion"] == ["length", "angle"]


def test_dicom_input_all_outputs(client):
    import pydicom

    data = shared_data_file("dicom/CR-MONO1-10-chest.dcm").read_bytes()
    response = post(client, data, accept="application/dicom")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(response.content))
    assert (ds.Rows, ds.Columns) == (440, 440)
    assert "DERIVED" in list(ds.ImageType)
    assert TEST_METHOD in ds.DerivationDescription
    assert ds.pixel_array.shape == (440, 440)

    png = post(client, data, accept="image/png")
    assert png.status_code == 200
    assert decode_png(png.content).dtype == np.uint16  # 10-bit source -> 16-bit PNG

    body = post(client, data, format="json", pixels=1).json()
    assert body["input_format"] == "dicom" and body["bits"] == 10 and body["value_max"] == 1023
    assert pydicom.dcmread(io.BytesIO(base64.b64decode(body["result_dicom"]))).Rows == 440
    assert np.frombuffer(base64.b64decode(body["after_u16"]), "<u2").max() <= 1023


def test_dicom_answers_name_how_they_were_derived_deblurred_or_unchanged(client):
    """The derived DICOM is encoded while the safeguard checks the result
    (``restore(..., while_checking=...)``); its DerivationDescription still names the
    method and denoise strength when deblurred, and says the method did not run when an
    unblurred image comes back unchanged (encoded after, with that label)."""
    import pydicom

    data = shared_data_file("dicom/966_fixed.dcm").read_bytes()  # shows no blur: unchanged by default
    for params, expected in (({}, f"none ({TEST_METHOD} not run"), ({"force": 1, "denoise": 0.5}, f"{TEST_METHOD}, denoise 0.5")):
        answer = post(client, data, accept="application/dicom", **params)
        assert answer.status_code == 200, answer.text
        assert f"method {expected}" in pydicom.dcmread(io.BytesIO(answer.content)).DerivationDescription, params
        body = post(client, data, format="json", **params).json()
        assert f"method {expected}" in pydicom.dcmread(io.BytesIO(base64.b64decode(body["result_dicom"]))).DerivationDescription, params
        assert ("while_checking" in body["seconds_by_step"]) == bool(params), body["seconds_by_step"]


# ---------- error paths ----------
def test_too_many_bytes_is_413(make_client):
    client = make_client(max_upload_bytes=2_000)
    data = encode("png8")
    assert len(data) > 2_000
    detail = assert_error(post(client, data), 413)
    assert "limit" in detail


def test_byte_cap_stops_reading_the_stream(test_methods):
    """413 after the first chunks past the cap; a large Content-Length is refused unread."""
    app = create_app(max_upload_bytes=5_000)

    def call(headers, chunks):
        received = []
        sent = []

        async def receive():
            if len(received) < chunks:
                received.append(1)
                return {"type": "http.request", "body": b"\0" * 1000, "more_body": len(received) < chunks}
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/api/v1/deblur", "raw_path": b"/api/v1/deblur", "query_string": f"method={TEST_METHOD}".encode(), "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }
        asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
        return sent[0]["status"], len(received)

    status, read = call([(b"content-type", b"application/octet-stream")], chunks=1000)
    assert status == 413 and read <= 6
    status, read = call([(b"content-length", b"1000000000")], chunks=1000)
    assert status == 413 and read == 0


def test_huge_declared_size_is_refused_before_decoding(client):
    assert_error(post(client, png_header_only(60000, 60000)), 413)
    assert_error(post(client, png_header_only(0, 10)), 422)


def test_bad_data(client):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert post(client, noise).status_code in (415, 422)
    assert_error(post(client, b"this is not an image at all, just text" * 10), 415)
    detail = assert_error(post(client, b""), 422)
    assert "empty" in detail
    data = encode("png8")
    assert_error(post(client, data[: len(data) // 2]), 422)  # truncated
    assert_error(post(client, encode("png8", phantom(8, 8))), 422)  # too small to deblur


def test_bad_parameters(client):
    data = encode("png8")
    detail = assert_error(post(client, data, method="no-such-method"), 422)
    assert "no-such-method" in detail and TEST_METHOD in detail
    assert_error(post(client, data, sigma="-1"), 422)
    assert_error(post(client, data, sigma="nan"), 422)
    assert_error(post(client, data, format="gif"), 422)
    assert_error(post(client, data, accept="text/html"), 406)


def test_dicom_output_needs_dicom_input(client):
    assert_error(post(client, encode("png8"), accept="application/dicom"), 406)
    assert_error(post(client, encode("png8"), format="dicom"), 406)


def test_method_crash_is_a_clean_500(client):
    from xraydeblur import methods

    def explode(image, kernel=None):
        raise RuntimeError("secret internal state /home/user/file.py line 3")

    methods.register(methods.Method("test-explode", "raises", "classical", explode, rank=-2000))
    try:
        detail = assert_error(post(client, encode("png8"), method="test-explode"), 500)
        assert "secret" not in detail
        assert client.get("/healthz").status_code == 200  # still serving
    finally:
        methods._REGISTRY.pop("test-explode", None)


def test_saturated_queue_gives_503_with_retry_after(make_client):
    """One slot: a request held in it makes the next wait out the queue timeout (503);
    a request that waits less than the timeout gets the slot when it comes free."""
    from xraydeblur import methods

    gate = threading.Event()

    def blocking(image, kernel=None):
        gate.wait(30)
        return image

    methods.register(methods.Method("test-blocking", "waits for the test", "classical", blocking, rank=-2000))
    client = make_client(max_concurrent=1, queue_timeout=0.3)
    patient = make_client(max_concurrent=1, queue_timeout=30)
    data = encode("png8")
    results, threads = {}, []

    def send(key, c, name):
        results[key] = post(c, data, method=name)

    def start(*args):
        thread = threading.Thread(target=send, args=args)
        threads.append(thread)
        thread.start()

    def running(c):
        return c.get("/healthz").json()["inference"]

    try:
        start("holder", client, "test-blocking")
        for _ in range(300):
            if running(client)["running"] == 1:
                break
            time.sleep(0.05)
        busy = post(client, data)
        assert_error(busy, 503)
        assert int(busy.headers["retry-after"]) >= 1

        # the same on an app with a long queue timeout: the waiter is served once the slot frees
        start("holder2", patient, "test-blocking")
        for _ in range(300):
            if running(patient)["running"] == 1:
                break
            time.sleep(0.05)
        start("waiter", patient, TEST_METHOD)
        for _ in range(300):
            if running(patient)["waiting"] == 1:
                break
            time.sleep(0.05)
        assert running(patient)["waiting"] == 1
    finally:
        gate.set()
        for thread in threads:
            thread.join(30)
        methods._REGISTRY.pop("test-blocking", None)
    assert results["holder"].status_code == 200 and results["holder2"].status_code == 200
    assert results["waiter"].status_code == 200
    assert float(results["waiter"].headers["x-queue-seconds"]) > 0
    for c in (client, patient):
        assert running(c)["running"] == 0 and running(c)["waiting"] == 0  # every slot came back


# ---------- privacy, pages, CLI ----------
def test_no_files_written_and_nothing_sensitive_logged(client, tmp_path, monkeypatch, caplog):
    tmp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    for var in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(var, str(tmp))
    monkeypatch.chdir(cwd)
    assert tempfile.gettempdir() == str(tmp)
    caplog.set_level(logging.DEBUG)
    files = {"file": ("Doe^Jane_secret.png", encode("png16", phantom(300, 260)), "image/png")}
    assert client.post("/api/v1/deblur", params={"method": TEST_METHOD}, files=files).status_code == 200
    assert post(client, encode("tiff16"), format="json", pixels=1).status_code == 200
    assert post(client, b"garbage" * 100).status_code == 415
    try:
        dicom = shared_data_file("dicom/CR-MONO1-10-chest.dcm").read_bytes()
    except pytest.skip.Exception:
        dicom = None
    if dicom:
        assert post(client, dicom, accept="application/dicom").status_code == 200
    assert sorted(os.listdir(tmp)) == [] and sorted(os.listdir(cwd)) == []
    server_records = [r for r in caplog.records if r.name.startswith(("xraydeblur", "uvicorn", "fastapi", "starlette"))]
    assert any("/api/v1/deblur" in r.getMessage() for r in server_records)  # requests are logged...
    logged = "\n".join(r.getMessage() for r in server_records)  # ...without names or query strings
    assert "Doe^Jane" not in logged and "secret" not in logged and "method=" not in logged


def test_pages_have_no_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Research use only" in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and len(asset.content) > 500
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "/api/v1/deblur" in docs.text
    for text in (page.text, docs.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        lowered = text.lower()
        assert "cdn" not in lowered and "https://" not in lowered and "http://" not in lowered and "@import" not in lowered
    assert "default-src 'self'" in page.headers["content-security-policy"]
    schema = client.get("/openapi.json").json()
    assert "/api/v1/deblur" in schema["paths"] and "/api/v1/models" in schema["paths"]
    assert client.get("/redoc").status_code == 404


def test_serve_command_help(capsys):
    from xraydeblur.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--port" in text and "--workers" in text and "examples:" in text
    args = build_parser().parse_args(["serve", "--port", "8123"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8123, 1)


def test_settings_from_environment(monkeypatch):
    from xraydeblur.server import Settings

    monkeypatch.setenv("XRAYDEBLUR_MAX_UPLOAD_MB", "1.5")
    monkeypatch.setenv("XRAYDEBLUR_MAX_CONCURRENT", "3")
    monkeypatch.setenv("XRAYDEBLUR_QUEUE_TIMEOUT", "7")
    settings = Settings.from_env()
    assert (settings.max_upload_bytes, settings.max_concurrent, settings.queue_timeout) == (1_500_000, 3, 7.0)
    assert Settings.from_env(max_concurrent=1).max_concurrent == 1
    monkeypatch.setenv("XRAYDEBLUR_MAX_CONCURRENT", "many")
    with pytest.raises(ValueError, match="XRAYDEBLUR_MAX_CONCURRENT"):
        Settings.from_env()


def test_the_server_warms_the_psf_estimator_the_no_blur_rule_asks(client):
    """An unblurred image asks the learned PSF estimator (the motion cue); the warm-up
    loads it, so the first such request does not."""
    from xraydeblur.infer import learned_psf

    assert learned_psf._session.cache_info().currsize >= 1
