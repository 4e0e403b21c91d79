"""Burned-in overlays (sharp text at the top of the range) are found, kept out of every
method, returned unchanged, and ignored by the safeguard."""

import numpy as np
from scipy.ndimage import binary_dilation

from shared_data import require_data
from xraydeblur.data import load_image, split_rows
from xraydeblur.data.overlays import burned_in_text, lead_marker, wire
from xraydeblur.degrade import Degradation
from xraydeblur.methods import get_method
from xraydeblur.metrics import psnr
from xraydeblur.overlay import burned_in_mask, fill_masked, run_around_overlays
from xraydeblur.safeguard import check_consistency


def _anatomy(n=160):
    yy, xx = np.mgrid[:n, :n] / n
    return (0.45 + 0.25 * np.sin(6 * xx + 2 * yy) * np.cos(4 * yy) + 0.1 * ((yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.03)).astype(np.float32)


def _blurred_with_text(kind="motion", params=None):
    sharp = _anatomy()
    blurred, kernel = Degradation(kind, params or {"length": 9, "angle": 30.0}).apply(sharp)
    with_text, text = burned_in_text(blurred, "AP 12", top=120, left=10, height=14)
    truth, _ = burned_in_text(sharp, "AP 12", top=120, left=10, height=14)
    return truth, with_text, kernel, text


def test_mask_finds_burned_in_text_but_not_blurred_bright_structures():
    truth, image, _, text = _blurred_with_text()
    mask = burned_in_mask(image)
    assert mask[text].mean() > 0.99  # every stroke pixel is found
    # a saturated marker imaged with the patient (blurred) is anatomy-like: not an overlay
    marked, _ = lead_marker(_anatomy(), "R", top=10, left=10, height=40, level=1.0)
    blurred, _ = Degradation("gaussian", {"sigma": 2.0}).apply(marked)
    assert not burned_in_mask(blurred).any()
    assert not burned_in_mask(np.full((32, 32), 1.0, np.float32)).any()  # flat white, no edge


def test_mask_finds_white_text_on_bright_anatomy_but_not_clipped_noise():
    bright = np.clip(_anatomy() * 0.3 + 0.6, 0, 0.9).astype(np.float32)  # 0.6-0.9
    blurred, _ = Degradation("gaussian", {"sigma": 2.0}).apply(bright)
    labelled, text = burned_in_text(blurred, "AP 12", top=60, left=20, height=12)
    assert burned_in_mask(labelled)[text].mean() > 0.99  # steps of only 0.1-0.4
    # a near-saturated noisy region: clipped pixels are scattered, not strokes
    noisy = np.clip(0.985 + np.random.default_rng(0).normal(0, 0.02, (160, 160)), 0, 1).astype(np.float32)
    assert burned_in_mask(noisy).mean() < 0.01


def test_fill_replaces_only_masked_pixels_with_nearby_values():
    image = np.full((40, 40), 0.3, np.float32)
    mask = np.zeros_like(image, bool)
    mask[15:25, 15:25] = True
    image[mask] = 1.0
    filled = fill_masked(image, mask)
    assert np.allclose(filled[mask], 0.3, atol=1e-4)
    assert np.array_equal(filled[~mask], image[~mask])


def test_methods_keep_burned_in_text_and_do_not_ring_around_it():
    truth, image, kernel, text = _blurred_with_text()
    mask = burned_in_mask(image)
    away = ~binary_dilation(mask, iterations=10)
    away[:8], away[-8:], away[:, :8], away[:, -8:] = False, False, False, False
    wiener = get_method("wiener")
    guarded = wiener(image, kernel)
    assert np.array_equal(guarded[mask], image[mask])  # overlay returned as it was
    unguarded = np.clip(wiener.run(image, kernel), 0, 1)
    # without the guard the sharp text makes the known-kernel solve ring far from it
    assert psnr(truth[away], guarded[away]) > psnr(truth[away], unguarded[away]) + 6
    assert psnr(truth[away], guarded[away]) > 38
    assert check_consistency(image, guarded, kernel)["consistent"]


def test_filled_pixels_are_not_data_for_known_kernel_solves():
    """Methods with a data term (Wiener, Richardson-Lucy, low-rank, the kernel-aware
    data step) are told which pixels were filled in and do not try to explain them:
    close to the text (within 3 px of the overlay, outside it) they ring far less than
    when the fill is taken as an observation."""
    from xraydeblur.infer.data_step import data_step

    truth, image, kernel, text = _blurred_with_text()
    mask = burned_in_mask(image)
    near = binary_dilation(mask, iterations=3) & ~mask
    for name in ("wiener", "richardson-lucy", "low-rank"):
        method, seen = get_method(name), []

        def run(x, k, observed=None, method=method, seen=seen):
            seen.append(observed)
            return method.run(x, k, observed=observed)

        run.accepts_observed = True
        weighted = run_around_overlays(run, image, kernel)
        assert np.array_equal(seen[0], (~mask).astype(np.float32))
        as_data = run_around_overlays(lambda x, k, method=method: method.run(x, k), image, kernel)
        assert psnr(truth[near], weighted[near]) > psnr(truth[near], as_data[near]) + 3, name
        assert np.array_equal(weighted, method(image, kernel))  # what the product runs
    # the data step: the same with the network output stood in for by a smoothed truth
    filled = fill_masked(image, mask)
    estimate = fill_masked(np.clip(truth, 0, 1), mask)
    step_weighted = data_step(filled, estimate, kernel, observed=(~mask).astype(np.float32))
    step_as_data = data_step(filled, estimate, kernel)
    assert psnr(truth[near], step_weighted[near]) > psnr(truth[near], step_as_data[near]) + 3


def test_without_overlay_the_guard_is_a_no_op():
    image = _anatomy()
    calls = []

    def run(x, k):
        calls.append(x)
        return x * 0.5

    out = run_around_overlays(run, image, None)
    assert calls[0] is image and np.array_equal(out, image * 0.5)


def test_real_burned_in_markers_are_kept():
    require_data()
    row = next(r for r in split_rows("val") if r.source == "kermany" and burned_in_mask(load_image(r)).any())
    image = load_image(row)
    mask = burned_in_mask(image)
    assert 100 < mask.sum() < 0.01 * mask.size  # a marker, not the anatomy
    rows, cols = np.nonzero(mask)
    y0, x0 = max(0, rows.min() - 60), max(0, cols.min() - 60)
    crop = np.ascontiguousarray(image[y0 : y0 + 200, x0 : x0 + 200])
    out = get_method("nafnet-blind")(crop)
    crop_mask = burned_in_mask(crop)
    assert crop_mask.any() and np.array_equal(out[crop_mask], crop[crop_mask])


def test_drawn_structures_have_the_stated_size_and_brightness():
    base = np.full((120, 120), 0.4, np.float32)
    marked, marker = lead_marker(base, "R", top=10, left=10, height=40, level=0.95)
    rows = np.nonzero(marker.any(axis=1))[0]
    assert 30 <= rows.max() - rows.min() + 1 <= 50 and marked[marker].min() >= 0.95
    wired, line = wire(base, (10, 10), (100, 100), bend=10.0, width=2.0, contrast=0.3)
    assert abs(wired.max() - 0.7) < 1e-5 and 150 < line.sum() < 600
    assert np.abs(wired[~line] - base[~line]).max() <= 0.01 * 0.3  # mask: raised by > 1% of the contrast


def test_cli_info_reports_burned_in_overlays(tmp_path, capsys):
    import json

    from PIL import Image

    from xraydeblur.cli import main

    _, image, _, text = _blurred_with_text()
    path = tmp_path / "labelled.png"
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    assert main(["info", "--json", str(path)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["burned_in_overlay_px"] >= text.sum()


def test_failure_mode_study_builds_its_cases():
    """benchmarks/failure_modes.py: structures land where their masks say, the text is
    sharp in the degraded input and the guard keeps it there."""
    import sys

    from conftest import PROJECT_ROOT

    require_data()
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    try:
        from failure_modes import DEGRADATIONS, make_case, region_scores
    finally:
        sys.path.remove(str(PROJECT_ROOT / "benchmarks"))
    from xraydeblur.data import benchmark_cases
    from xraydeblur.data.benchmark import BENCHMARK_DEGRADATIONS

    row = split_rows("test")[0]
    degradation = next(d for d in BENCHMARK_DEGRADATIONS if d.name == DEGRADATIONS[1])  # 9 px motion
    case = benchmark_cases([row], crop=128, degradations=[degradation])[0]
    sharp, degraded, kernel, masks = make_case(case, load_image(row))
    assert sharp.shape == degraded.shape == (128, 128)
    assert set(masks) == {"lead marker", "wire", "burned-in text", "anatomy"}
    assert not (masks["anatomy"] & masks["burned-in text"]).any()
    text = masks["burned-in text"]
    assert np.array_equal(degraded[text & (sharp == 1.0)], sharp[text & (sharp == 1.0)])  # sharp in the input
    assert burned_in_mask(degraded)[text & (degraded == 1.0)].all()
    assert region_scores(sharp, sharp, masks["wire"])[1] == 0.0
