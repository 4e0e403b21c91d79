"""The web page's binary answer (``Accept: application/vnd.xraydeblur.view``,
server/view_payload.py): decoded here in Python, checked against the PNG/JSON answers."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest

from conftest import shared_data_file
from test_api import H, W, client, decode_png, encode, make_client, phantom, post  # noqa: F401 (fixtures)
from xraydeblur.server.view_payload import MEDIA_TYPE, _filtered, _planes, decode_image, decode_view, encode_image, encode_view, stored_values

VIEW = MEDIA_TYPE


def view(client, data, **params):
    response = post(client, data, accept=VIEW, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == VIEW and "content-disposition" not in response.headers
    return decode_view(response.content), response.content


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("pattern", ["noise", "ramp", "flat"])
def test_image_arrays_round_trip_exactly(dtype, pattern):
    rng = np.random.default_rng(1)
    top = np.iinfo(dtype).max
    values = {
        "noise": rng.integers(0, top + 1, (37, 53)),
        "ramp": np.add.outer(np.arange(37) * 7, np.arange(53) * 3) % (top + 1),
        "flat": np.full((37, 53), top),
    }[pattern].astype(dtype)
    entry, data = encode_image(values)
    assert entry["filter"] in ("none", "up", "sub") and entry["planes"] == values.itemsize
    for kind in ("none", "up", "sub"):  # every filter decodes, whichever was chosen
        decoded = decode_image({**entry, "filter": kind}, zlib.compress(_planes(_filtered(values, kind))))
        assert np.array_equal(decoded, values), kind
    assert np.array_equal(decode_image(entry, data), values)


def test_view_answer_carries_the_json_facts_and_exact_pixels(client):
    values = np.rint(phantom() * 65535).astype(np.uint16)
    (header, arrays), body = view(client, encode("png16"))
    length = struct.unpack("<I", body[4:8])[0]
    assert body[:4] == b"XDV1" and body[8 + length - 1 : 8 + length] == b"}"
    assert sum(a["length"] for a in header["arrays"]) == len(body) - 8 - length
    as_json = post(client, encode("png16"), format="json").json()
    for key in as_json:
        if key not in ("result_png", "result_dicom", "seconds", "inference_seconds", "queue_seconds", "seconds_by_step", "pipeline_seconds"):
            assert header[key] == as_json[key], key
    assert (header["format"], header["version"], header["result_png_bits"]) == ("xraydeblur.view", 1, 16)
    assert header["identity"] is None and header["display"]["rescale_slope"] == 1.0
    assert np.array_equal(arrays["before"], values)
    assert np.array_equal(arrays["after"], decode_png(post(client, encode("png16"), format="png").content))
    names = [a["name"] for a in header["arrays"]]
    assert names[:2] == ["before", "after"] and "dicom" not in names
    # the safeguard's residual map, when it ran: int8 of z scaled to residual_scale
    if "residual" in arrays:
        assert arrays["residual"].dtype == np.int8 and arrays["residual"].shape == (H, W)
        assert header["residual_scale"] > 0
    # the same answer by ?format=view
    assert post(client, encode("png16"), format="view").headers["content-type"] == VIEW


def test_8bit_input_gives_8bit_arrays_and_8bit_pngs(client):
    (header, arrays), _ = view(client, encode("png8"))
    assert header["bits"] == 8 and header["result_png_bits"] == 8
    assert arrays["before"].dtype == np.uint8
    assert np.array_equal(arrays["before"], np.rint(phantom() * 255))
    body = post(client, encode("png8"), format="json").json()  # the JSON answer's PNG matches format=png
    assert body["result_png_bits"] == 8 and decode_png(base64.b64decode(body["result_png"])).dtype == np.uint8
    assert np.array_equal(arrays["after"], decode_png(post(client, encode("png8"), format="png").content))


def test_dicom_view_identity_window_and_spliced_dicom(client):
    import pydicom

    data = shared_data_file("dicom/CR-MONO1-10-chest.dcm").read_bytes()
    from xraydeblur.io import read_radiograph

    rad = read_radiograph(data)
    source = rad.dataset
    (header, arrays), body = view(client, data)
    assert header["input_format"] == "dicom" and header["value_max"] == 1023
    identity = header["identity"]
    for key, keyword in (("patient_id", "PatientID"), ("patient_name", "PatientName"), ("study_date", "StudyDate")):
        assert identity[key] == (str(source.get(keyword, "")).strip() or None), key
    display = header["display"]
    assert display["inverted"] is (source.PhotometricInterpretation == "MONOCHROME1") is rad.info["inverted"]
    assert np.array_equal(arrays["before"], np.rint(rad.pixels.astype(np.float64) * 1023))
    # the derived DICOM = head + the after pixels as stored values + tail
    splice = header["dicom_splice"]
    assert splice["bytes_per_value"] == 2 and "dicom" not in arrays
    pixels = stored_values(arrays["after"], 1023, splice["bits"], splice["signed"], splice["inverted"], 2)
    derived = pydicom.dcmread(io.BytesIO(arrays["dicom_head"] + pixels + arrays["dicom_tail"]))
    assert derived.Rows == source.Rows and "DERIVED" in derived.ImageType
    flipped = 1023 - derived.pixel_array.astype(np.int64) if display["inverted"] else derived.pixel_array
    assert np.array_equal(flipped, arrays["after"])
    assert len(arrays["dicom_head"]) + len(arrays["dicom_tail"]) < 20_000


def test_view_of_a_real_radiograph_is_at_most_two_pngs():
    """The goal of issue 28: the page's payload at most 2 x a 16-bit PNG of the result
    (here a real 8-bit radiograph, encoded without a server)."""
    from PIL import Image
    from scipy.ndimage import uniform_filter

    with Image.open(shared_data_file("cxr/mhh/00870a9c.png")) as img:
        before = np.asarray(img.convert("L"))
    unit = before / 255.0
    after = np.rint(np.clip(unit + 1.5 * (unit - uniform_filter(unit, 5)), 0, 1) * 255).astype(np.uint8)
    facts = {"width": before.shape[1], "height": before.shape[0], "bits": 8, "value_max": 255}
    body = encode_view(facts, before, after)
    png16 = io.BytesIO()
    Image.fromarray(after.astype(np.uint16) * 257).save(png16, "PNG")
    assert len(body) <= 2 * len(png16.getvalue()), (len(body), len(png16.getvalue()))
    header, arrays = decode_view(body)
    assert np.array_equal(arrays["before"], before) and np.array_equal(arrays["after"], after)


def test_dicom_without_the_pixels_as_stored_is_sent_whole():
    values = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096
    facts = {"width": 64, "height": 64, "bits": 12, "value_max": 4095}
    body = encode_view(facts, values, values, dicom=b"DICM-compressed-pixels", info={"inverted": False})
    header, arrays = decode_view(body)
    assert arrays["dicom"] == b"DICM-compressed-pixels" and "dicom_splice" not in header


def test_dicom_splice_holds_for_monochrome1_values_exactly_half_way():
    """A MONOCHROME1 result pixel of exactly 0.5 (2047.5 of 4095) must be stored as the
    page's display value flipped; otherwise the page gets the whole DICOM again."""
    from xraydeblur.io.dicom_read import unit_to_stored
    from xraydeblur.server.processing import to_u16

    unit = np.array([[0.5, 0.25, 1.0, 0.0]], np.float32)
    assert np.array_equal(unit_to_stored(unit, 12, False, True), 4095 - to_u16(unit, 4095).astype(np.int64))
