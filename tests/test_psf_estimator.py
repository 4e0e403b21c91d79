"""The learned PSF estimator: labels, features, the shipped export, accuracy on a small
fixed set, the fallback rule of ``nafnet-auto``, and training with resume."""

import json
from pathlib import Path

import numpy as np
import pytest

from xraydeblur.data.synthetic import power_law_scene
from xraydeblur.degrade import Degradation, quantize
from xraydeblur.infer.learned_psf import ESTIMATOR_DIR, ESTIMATOR_NAME, LearnedPsfEstimate, estimate_learned_psf, estimator_meta, spectrum_features
from xraydeblur.models.psf_labels import FAMILIES, PARAMS, decode, encode_target

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "kind,params",
    [
        ("gaussian", {"sigma": 1.7}),
        ("anisotropic", {"sigma": 1.0, "sigma_y": 2.5, "angle": 20.0}),
        ("disk", {"radius": 2.2}),
        ("motion", {"length": 9.0, "angle": 170.0}),
        ("exponential", {"scale": 1.2}),
    ],
)
def test_labels_round_trip(kind, params):
    index, targets = encode_target(kind, params)
    logits = [0.0] * len(FAMILIES)
    logits[index] = 10.0
    found = decode(logits + targets)
    assert found["family"] == kind
    if kind == "anisotropic":  # canonical form: sigma the larger width, angle turned with it
        assert found["params"]["sigma"] == pytest.approx(2.5) and found["params"]["sigma_y"] == pytest.approx(1.0)
        assert found["params"]["angle"] == pytest.approx(110.0)
    else:
        for key, value in params.items():
            assert found["params"][key] == pytest.approx(value)
    assert len(targets) == len(PARAMS)


def test_features_shape_and_levels():
    scene = power_law_scene(256)
    features = spectrum_features(scene)
    assert features.shape == (3, 64, 64) and features.dtype == np.float32 and np.isfinite(features).all()
    # the absolute channel sees the rounding floor of a coarser grid (above a wide blur's
    # roll-off at the highest frequency), the relative one does not move with contrast
    blurred, _ = Degradation("gaussian", {"sigma": 3.0}).apply(scene)
    assert spectrum_features(quantize(blurred, 8))[1][0, 0] > spectrum_features(blurred)[1][0, 0] + 2.0
    half = spectrum_features(0.25 + 0.5 * scene)
    assert np.median(np.abs(half[0] - features[0])) < 0.05


def test_shipped_export_matches_weights():
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from xraydeblur.infer.learned_psf import network_output
    from xraydeblur.models.psf_net import PsfNet

    meta = estimator_meta()
    model = PsfNet(**meta["arch_args"])
    model.load_state_dict(load_file(str(ESTIMATOR_DIR / f"{ESTIMATOR_NAME}.safetensors")))
    model.eval()
    x = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.allclose(network_output(x), expected, atol=1e-4)
    assert meta["parameters"] < 1_000_000
    import hashlib

    assert hashlib.sha256((ESTIMATOR_DIR / f"{ESTIMATOR_NAME}.safetensors").read_bytes()).hexdigest() == meta["weights_sha256"]


def test_fallback_rule_low_confidence_and_unbuildable():
    low = LearnedPsfEstimate("motion", {"length": 9.0, "angle": 30.0}, 0.4, min_confidence=0.8)
    assert low.kernel is not None and not low.usable
    curved = LearnedPsfEstimate("trajectory", {"length": 9.0}, 0.99, min_confidence=0.8)
    assert curved.kernel is None and not curved.usable
    none = LearnedPsfEstimate("none", {}, 0.99, min_confidence=0.8)
    assert not none.usable and none.summary()["trusted"] is False
    short = LearnedPsfEstimate("motion", {"length": 2.1, "angle": 90.0}, 0.99, min_confidence=0.8)
    assert not short.usable  # shorter than any motion the estimator was trained on: an extrapolation
    sure = LearnedPsfEstimate("disk", {"radius": 2.0}, 0.9, min_confidence=0.8)
    assert sure.usable and sure.kernel.shape == (5, 5)


def test_a_gaussian_is_restored_with_the_rules_width_factor():
    """The PSF restored with is the Gaussian found times the rule's factor; the label and
    ``params`` stay the estimate, and the summary says both. Other families, and a factor
    of 1, restore with what was found."""
    from xraydeblur.degrade import make_kernel

    found = LearnedPsfEstimate("gaussian", {"sigma": 2.0}, 0.95, min_confidence=0.5, gaussian_scale=0.9)
    assert found.restoring_params == {"sigma": 1.8} and np.allclose(found.kernel, make_kernel("gaussian", sigma=1.8))
    facts = found.summary()
    assert facts["label"] == "gaussian sigma 2.00 px" and facts["params"] == {"sigma": 2.0} and facts["restored_with"] == {"sigma": 1.8}
    as_found = LearnedPsfEstimate("gaussian", {"sigma": 2.0}, 0.95, min_confidence=0.5)
    assert "restored_with" not in as_found.summary() and np.allclose(as_found.kernel, make_kernel("gaussian", sigma=2.0))
    disk = LearnedPsfEstimate("disk", {"radius": 2.0}, 0.95, min_confidence=0.5, gaussian_scale=0.9)
    assert disk.restoring_params == {"radius": 2.0}


def test_the_shipped_rules_width_factor_reaches_the_kernel(monkeypatch):
    """``estimate_learned_psf`` takes the factor from the shipped rule for a Gaussian it
    does not refine, and none for one it refines (the fit's width is used as it is)."""
    from xraydeblur.infer import learned_psf

    blurred, _ = Degradation("gaussian", {"sigma": 2.0}).apply(power_law_scene(192))
    meta = learned_psf.estimator_meta()
    monkeypatch.setattr(learned_psf, "estimator_meta", lambda folder=ESTIMATOR_DIR: {**meta, "rule": {**meta["rule"], "gaussian_scale": 0.9}})
    found = estimate_learned_psf(blurred, refine=False)
    assert found.family == "gaussian"  # the estimator names this scene's blur (so the factor is exercised)
    assert found.gaussian_scale == 0.9 and found.restoring_params["sigma"] == found.params["sigma"] * 0.9
    assert estimate_learned_psf(blurred, refine=True).gaussian_scale == 1.0


def test_rule_choice_takes_a_narrower_gaussian_when_too_wide_ones_lose():
    """Records where the Gaussian width as estimated loses a row (too wide on some cases)
    but 0.94 of it gains everywhere: the rule uses Gaussians, at that factor."""
    rule = _rule_script()

    def gaussian(row, network, narrower):
        return {**_record(row, "gaussian", 0.95, 40.0, network, network), "network/learned": network, "refined/learned": network - 3.0,
                **{f"network*{f:g}/learned": (narrower if f == 0.94 else 40.0) for f in rule.GAUSSIAN_SCALES[1:]}}

    records = [gaussian("gaussian-sigma2", 37.0, 41.0), gaussian("gaussian-sigma2", 42.5, 42.0), gaussian("gaussian-sigma3", 41.0, 40.5)]
    chosen = rule.choose(records, max_row_loss=0.1)["chosen"]
    assert chosen["gains"] == "learned" and chosen["gaussian_scale"] == 0.94 and chosen["min_confidence"]["gaussian"] <= 0.95
    assert rule.score(records, "learned", [], chosen["min_confidence"], 1.0)[1]["gaussian-sigma2"] < 0  # as estimated: the row loses


def test_auto_is_blind_when_not_confident(monkeypatch):
    """Below the threshold ``nafnet-auto`` returns exactly ``nafnet-blind``'s output."""
    from xraydeblur.infer import identify, learned_psf
    from xraydeblur.methods import get_method

    blurred, _ = Degradation("gaussian", {"sigma": 2.0}).apply(power_law_scene(192))
    meta = learned_psf.estimator_meta()
    monkeypatch.setattr(learned_psf, "estimator_meta", lambda folder=ESTIMATOR_DIR: {**meta, "rule": {"min_confidence": 1.01}})
    identify.clear_cache()
    auto = get_method("nafnet-auto")
    kernel, facts = auto.kernel_in_use(blurred)
    assert kernel is None and facts["estimator"] == "learned" and facts["trusted"] is False
    assert np.array_equal(auto(blurred), get_method("nafnet-blind")(blurred))
    identify.clear_cache()


@pytest.mark.parametrize(
    "results, folder",
    [("learned_psf_rule.json", ESTIMATOR_DIR), ("learned_psf_rule-unseen-mhh.json", ROOT / "benchmarks" / "weights" / "unseen-mhh" / "psf")],
)
def test_shipped_rule_comes_from_its_script(results, folder):
    """The rule in the estimator's JSON and the data step's form in ``nafnet-auto.json``
    beside it are what the rule script chose (and wrote) in its committed results."""
    rule = json.loads((folder / "psf-estimator.json").read_text())["rule"]
    chosen = json.loads((ROOT / "benchmarks" / "results" / results).read_text())["chosen"]
    assert rule["min_confidence"] == chosen["min_confidence"] and rule["refine"] == chosen["refine"]
    assert rule.get("gaussian_scale", 1.0) == chosen.get("gaussian_scale", 1.0)
    assert f"--out benchmarks/results/{results}" in rule["chosen_by"]
    variant = json.loads((folder.parent / "nafnet-auto.json").read_text())
    if chosen["gains"] == "learned":
        assert variant["step"] == "learned"
    else:
        assert "step" not in variant and variant["gains"] == chosen["gains"]


def test_rule_script_scores_the_learned_step():
    """The rule script's records name the data step's form; the committed runs scored the
    learned step, which ``nafnet-auto`` takes."""
    for results in ("learned_psf_rule.json", "learned_psf_rule-unseen-mhh.json"):
        data = json.loads((ROOT / "benchmarks" / "results" / results).read_text())
        assert data["settings"]["steps"] == ["learned"] and data["chosen"]["gains"] == "learned"
        assert any("network/learned" in r for r in data["records"])


def test_training_runs_and_resumes(tmp_path):
    """A few steps on two radiographs per split, then a second call continues the run."""
    from shared_data import require_data

    require_data()
    from xraydeblur.train.psf_estimator import TrainSettings, train

    settings = TrainSettings(out=str(tmp_path / "run"), steps=4, batch=4, val_samples=8, val_every=2, checkpoint_every=2, max_rows=2, crops_per_image=1)
    first = train(settings)
    assert first["steps"] == 4 and (tmp_path / "run" / "best.pt").exists()
    settings.steps = 6
    second = train(settings)
    assert second["steps"] == 6
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["2", "4", "6"]


#: the small fixed set: noise-free blurs of centre crops of test-split radiographs
FIXED_BLURS = [("gaussian", {"sigma": 2.0}), ("motion", {"length": 9.0, "angle": 30.0}), ("disk", {"radius": 2.5}), ("none", {})]


def _fixed_set():
    from shared_data import require_data

    require_data()
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import blur, make_kernel

    cases = []
    for row in subset(split_rows("test"), 4):
        image = load_image(row)
        y, x = (image.shape[0] - 448) // 2, (image.shape[1] - 448) // 2
        context = image[y : y + 448, x : x + 448]
        for kind, params in FIXED_BLURS:
            blurred = context if kind == "none" else blur(context, make_kernel(kind, **params))
            cases.append((kind, params, np.ascontiguousarray(blurred[32:-32, 32:-32], np.float32)))
    return cases


def test_estimator_accuracy_on_a_small_fixed_set():
    """Family right on most of 16 noise-free cases (4 test radiographs x 4 blurs), and
    the widths (refined where the shipped rule says) close where it is."""
    right = 0
    for kind, params, image in _fixed_set():
        found = estimate_learned_psf(image)  # as shipped: refined where the rule says
        if found.family != kind:
            continue
        right += 1
        if kind == "gaussian":
            assert abs(found.params["sigma"] - params["sigma"]) < 0.25
        elif kind == "disk":
            assert abs(found.params["radius"] - params["radius"]) < 0.4
        elif kind == "motion":
            assert abs(found.params["length"] - params["length"]) < 1.0
            assert min(abs(found.params["angle"] - 30.0), 180 - abs(found.params["angle"] - 30.0)) < 3.0
    assert right >= 12


def test_training_runs_as_two_processes(tmp_path):
    """``torchrun`` with two CPU processes (DDP on gloo) trains and saves once."""
    import os
    import subprocess
    import sys

    from shared_data import require_data

    require_data()
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(ROOT / "scripts" / "train_psf_estimator.py")]
    cmd += ["--out", str(out), "--steps", "2", "--batch", "2", "--val-samples", "4", "--val-every", "2", "--max-rows", "1", "--crops-per-image", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    # the workers' own messages come before torchrun's summary: keep enough to see them
    assert proc.returncode == 0, proc.stderr[-8000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2 and (out / "best.pt").exists()

def test_two_processes_stop_together_on_the_time_budget(tmp_path):
    """With ``--minutes`` under torchrun every rank stops at the same step: each rank once
    checked the clock on its own, and one that stopped first left the other waiting in
    the gradient all-reduce for ever."""
    import os
    import subprocess
    import sys

    from shared_data import require_data

    require_data()
    out = tmp_path / "ddp-budget"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(ROOT / "scripts" / "train_psf_estimator.py")]
    cmd += ["--out", str(out), "--steps", "100000", "--minutes", "0.05", "--batch", "2", "--val-samples", "4", "--val-every", "100000",
            "--max-rows", "1", "--crops-per-image", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-8000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and 0 < summary["steps"] < 100000


def _rule_script():
    """``benchmarks/learned_psf_rule.py`` as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rule", ROOT / "benchmarks" / "learned_psf_rule.py")
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    return rule


def _record(row, found, confidence, blind, network, refined):
    """A made-up validation record of the rule script: PSNR (dB) of blind, and of the
    data step with the network's and the refined parameters (both gain tables alike)."""
    return {"row": row, "found": found, "params": {}, "refined_params": {}, "confidence": confidence, "blind": blind,
            "network/known": network, "refined/known": refined, "network/identified": network, "refined/identified": refined}


def test_rule_choice_refines_what_helps_and_keeps_every_row_near_blind():
    """The rule script's choice on made-up records: refine only the family whose refined
    parameters restored better, and take the threshold that avoids the row that lost."""
    rule = _rule_script()

    records = [
        _record("motion-length9", "motion", 0.95, 40.0, 44.0, 50.0),
        _record("gaussian-sigma2", "gaussian", 0.95, 40.0, 42.0, 41.0),
        _record("disk-radius2+noise", "disk", 0.6, 38.0, 37.0, 37.0),  # a low-confidence case that would lose 1 dB
    ]
    assert rule.refined_families(records, "known") == ["motion"]
    chosen = rule.choose(records, max_row_loss=0.1)["chosen"]
    assert chosen["refine"] == ["motion"] and chosen["min_confidence"]["motion"] <= 0.95 and chosen["min_confidence"]["disk"] > 0.6


@pytest.mark.parametrize("bits", [8, 10, 12, 15, 16])
def test_rounding_floor_finds_the_grid_of_the_image(bits):
    from xraydeblur.classical.psf_search import rounding_floor

    values = np.random.default_rng(bits).integers(0, 2**bits, (200, 200)) / (2**bits - 1)
    for image in (values.astype(np.float32), 1.0 - values.astype(np.float32)):  # MONOCHROME1 inverts
        assert rounding_floor(image) == pytest.approx((1 / (2**bits - 1)) ** 2 / 12)
    assert rounding_floor(np.random.default_rng(0).random((64, 64))) == pytest.approx((1 / 65535) ** 2 / 12)


def test_small_disk_on_high_bit_dicoms_is_refined_to_its_radius():
    """A 2 px disk on the 15- and 16-bit DICOMs, stored on their own bit depth: the
    refined radius within 0.1 px (an 8-bit power floor made it 1.86 / 1.70 px, and
    ``nafnet-auto`` then lost 11-12.5 dB against blind)."""
    from shared_data import dicom_files

    from xraydeblur.degrade import blur, make_kernel
    from xraydeblur.io import read_radiograph

    checked = 0
    for path in dicom_files():
        rad = read_radiograph(path)
        if (rad.bits_stored or 8) < 15:
            continue
        blurred = quantize(blur(rad.pixels, make_kernel("disk", radius=2.0)), rad.bits_stored)
        found = estimate_learned_psf(blurred)
        assert found.family == "disk" and abs(found.params["radius"] - 2.0) < 0.1, (path.name, found.family, found.params)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize(
    "kind,true,start",
    [
        ("disk", {"radius": 2.0}, {"radius": 2.1}),
        ("disk", {"radius": 2.3}, {"radius": 2.2}),
        ("motion", {"length": 9.0, "angle": 30.0}, {"length": 8.6, "angle": 31.5}),
        ("motion", {"length": 5.0, "angle": 120.0}, {"length": 5.4, "angle": 118.0}),
    ],
)
def test_refinement_pins_disk_and_motion_widths_below_what_the_data_step_feels(kind, true, start):
    """From a start a few tenths off, the spectral refinement of a noise-free image lands
    within 0.01 px of a disk radius and 0.05 px of a motion length (its last grids are
    1/128 and 1/64 px): on noise-free input 0.03 px of radius cost the data step
    7.5 dB (benchmarks/results/trials/psf_refinement_step.json)."""
    from xraydeblur.classical.psf_search import refine_psf
    from xraydeblur.degrade import blur, make_kernel

    blurred = blur(power_law_scene(512), make_kernel(kind, **true)).astype(np.float32)
    found = refine_psf(blurred, kind, start)
    if kind == "disk":
        assert abs(found["radius"] - true["radius"]) < 0.01
    else:
        assert abs(found["length"] - true["length"]) < 0.05 and abs(found["angle"] - true["angle"]) < 0.5


def test_a_pass_without_a_half_width_searches_every_trained_length():
    """A 15 px motion whose length the network put at 7 px (as it did on a test
    radiograph of the unseen source): a pass gridded +-30 % around 7 px cannot reach it,
    one over the whole trained range (half-width None) finds it, and the finer passes
    then pin it."""
    from xraydeblur.classical.psf_search import refine_psf
    from xraydeblur.degrade import blur, make_kernel

    blurred = blur(power_law_scene(512), make_kernel("motion", length=15.0, angle=50.0)).astype(np.float32)
    start = {"length": 7.0, "angle": 51.0}
    near = refine_psf(blurred, "motion", start, passes={"motion": [{"length": (3.0, 1.0), "angle": (6.0, 2.0)}]})
    assert abs(near["length"] - 15.0) > 4.0
    whole = [{"length": (None, 1.0), "angle": (6.0, 2.0)}, {"length": (0.75, 0.25), "angle": (1.5, 0.5)}, {"length": (0.25, 1 / 16)}]
    found = refine_psf(blurred, "motion", start, passes={"motion": whole})
    assert abs(found["length"] - 15.0) < 0.1 and abs(found["angle"] - 50.0) < 1.0


def test_refinement_pass_over_some_parameters_keeps_the_others():
    """A pass that grids the length alone keeps the angle it was given."""
    from xraydeblur.classical.psf_search import refine_psf
    from xraydeblur.degrade import blur, make_kernel

    blurred = blur(power_law_scene(256), make_kernel("motion", length=9.0, angle=30.0)).astype(np.float32)
    found = refine_psf(blurred, "motion", {"length": 8.5, "angle": 30.0}, passes={"motion": [{"length": (1.0, 0.25)}]})
    assert found["angle"] == 30.0 and abs(found["length"] - 9.0) <= 0.25


def test_rule_choice_drops_a_refinement_that_ruins_one_row():
    """A refinement that helps on average but loses a whole row is not kept behind a
    high threshold: the families to refine and the threshold are chosen together."""
    rule = _rule_script()

    records = [
        _record("gaussian-sigma1", "gaussian", 0.9, 40.0, 42.0, 47.0),  # refining helps a lot here
        _record("gaussian-sigma3", "gaussian", 0.9, 40.0, 41.0, 37.0),  # and ruins this row
        _record("motion-length9", "motion", 0.9, 40.0, 44.0, 50.0),
    ]
    assert "gaussian" in rule.refined_families(records, "known")  # on average it helps
    chosen = rule.choose(records, max_row_loss=0.1)["chosen"]
    assert chosen["refine"] == ["motion"] and chosen["min_confidence"]["motion"] <= 0.9 and chosen["worst_row_gain_db"] >= 0


def test_rule_thresholds_are_per_family():
    """A family that loses a row gets a threshold above its cases' confidence; the
    others keep theirs (one threshold for all would give up the motion gain too)."""
    from xraydeblur.infer.learned_psf import family_threshold

    rule = _rule_script()

    records = [
        _record("gaussian-sigma3", "gaussian", 0.97, 40.0, 37.0, 37.0),  # a confident Gaussian that loses
        _record("motion-length9", "motion", 0.6, 40.0, 48.0, 48.0),
    ]
    chosen = rule.choose(records, max_row_loss=0.1)["chosen"]["min_confidence"]
    assert chosen["gaussian"] > 0.97 and chosen["motion"] <= 0.6
    assert family_threshold({"min_confidence": chosen}, "motion") == chosen["motion"]
    assert family_threshold({"min_confidence": 0.5}, "disk") == 0.5 and family_threshold({"min_confidence": {}}, "disk") == 1.01


def test_a_family_that_barely_helps_is_never_used():
    """A family whose estimates raise the mean by less than ``MIN_FAMILY_GAIN_DB`` over
    all cases (here a few thousandths of a dB on one case in a hundred) stays "never":
    such a threshold is fitted to its few cases; one that helps clearly is used."""
    rule = _rule_script()

    records = [_record("motion-length9", "motion", 0.6, 40.0, 48.0, 48.0)] + [
        _record("gaussian-sigma2+noise", "none", 0.9, 38.0, 38.0, 38.0) for _ in range(98)
    ] + [_record("gaussian-sigma2+noise", "exponential", 0.6, 38.0, 38.2, 38.2)]
    chosen = rule.choose(records, max_row_loss=0.1)["chosen"]["min_confidence"]
    assert chosen["exponential"] == 1.01 and chosen["motion"] <= 0.6
    assert rule.choose(records, max_row_loss=0.1, min_gain=0.0)["chosen"]["min_confidence"]["exponential"] <= 0.6


def test_the_estimator_writes_nothing_to_the_temp_folder(tmp_path):
    """onnxruntime writes a telemetry session file (".ses") into the temp folder unless
    told not to before its first import; the estimator, asked first in a fresh process
    (as the motion cue is for an unblurred image), must leave the temp folder empty."""
    import os
    import subprocess
    import sys

    code = "import numpy as np\nfrom xraydeblur.infer.learned_psf import estimate_learned_psf\nestimate_learned_psf(np.random.default_rng(0).random((128, 128), dtype=np.float32))"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert list(tmp_path.iterdir()) == []


def test_a_run_can_start_from_given_weights(tmp_path):
    """``--init`` (the GPU script's fine-tune): a new run starts from the shipped
    estimator's weights, not from a random network."""
    from shared_data import require_data

    require_data()
    import torch
    from safetensors.torch import load_file

    from xraydeblur.train.psf_estimator import TrainSettings, train

    shipped = ESTIMATOR_DIR / f"{ESTIMATOR_NAME}.safetensors"
    settings = TrainSettings(out=str(tmp_path / "run"), steps=0, val_samples=8, max_rows=2, crops_per_image=1, init=str(shipped))
    train(settings)
    start = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    for name, value in load_file(str(shipped)).items():
        assert torch.equal(start[name], value), name


def test_rule_script_writes_the_step_form(tmp_path):
    """``--write``: the learned step becomes ``"step": "learned"`` in ``nafnet-auto.json``;
    a gain table removes that key and names its gains."""
    rule = _rule_script()
    folder = tmp_path / "psf"
    folder.mkdir()
    (folder / f"{ESTIMATOR_NAME}.json").write_text(json.dumps({"name": ESTIMATOR_NAME}))
    (tmp_path / "nafnet-auto.json").write_text(json.dumps({"name": "nafnet-auto", "gains": "known"}))
    chosen = {"min_confidence": {"motion": 0.5}, "refine": ["motion"], "gains": "learned"}
    rule.write(chosen, "python benchmarks/learned_psf_rule.py --write", folder)
    assert json.loads((tmp_path / "nafnet-auto.json").read_text())["step"] == "learned"
    assert json.loads((folder / f"{ESTIMATOR_NAME}.json").read_text())["rule"]["refine"] == ["motion"]
    rule.write({**chosen, "gains": "identified"}, "python benchmarks/learned_psf_rule.py --write", folder)
    variant = json.loads((tmp_path / "nafnet-auto.json").read_text())
    assert "step" not in variant and variant["gains"] == "identified"


def test_a_finished_worker_leaves_without_teardown(tmp_path):
    """``leave_if_worker``: outside torchrun it returns; in a worker it flushes what was
    printed and ends the process with the code given (no interpreter teardown, where
    gloo's threads now and then aborted a finished run)."""
    import os
    import subprocess
    import sys

    from xraydeblur.train.worker_exit import leave_if_worker

    leave_if_worker(0)  # WORLD_SIZE unset here: a plain return
    code = "import sys; from xraydeblur.train.worker_exit import leave_if_worker; print('done', flush=False); leave_if_worker(3); print('not reached')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "WORLD_SIZE": "2"})
    assert proc.returncode == 3 and proc.stdout == "done\n"


def test_the_geometric_tile_average_is_unbiased_and_checked():
    """On stationary white noise the geometric mean of the tiles' periodograms, times
    exp(Euler's gamma), equals Welch's mean (a periodogram ordinate is exponential:
    its log falls short by gamma on average); an unknown average is refused."""
    from xraydeblur.classical.psf_search import welch_spectrum

    noise = np.random.default_rng(3).normal(0.5, 0.01, (512, 512))
    mean, geometric = welch_spectrum(noise), welch_spectrum(noise, average="geometric")
    assert abs(float(np.median(geometric / mean)) - 1.0) < 0.02
    with pytest.raises(ValueError, match="average"):
        welch_spectrum(noise, average="median")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_lead_marker_does_not_pull_the_motion_angle_of_a_noisy_image(seed):
    """A 1024 px noisy image (2000 photons, 12 bits) with a bright bar marker in one
    corner, blurred by 9 px motion at 30 deg: the marker's few tiles carry most of the
    image's high-frequency power, at 0 and 90 deg. The refinement on the tiles' mean
    spectrum is pulled by them (1.4-2.2 deg off here); on their geometric mean, what
    the shipped estimator fits a motion on, it stays within 1 deg (and closer)."""
    from xraydeblur.classical.psf_search import REFINE_AVERAGE, refine_psf, welch_spectrum
    from xraydeblur.degrade import blur, make_kernel
    from xraydeblur.degrade.noise import poisson_gaussian_noise

    scene = 0.2 + 0.5 * power_law_scene(1024, seed=seed).astype(np.float64)
    for i in range(6):
        scene[850:950, 700 + 40 * i : 712 + 40 * i] = 0.98
    scene[850:862, 700:940] = 0.98
    blurred = blur(scene, make_kernel("motion", length=9.0, angle=30.0))
    image = quantize(np.clip(poisson_gaussian_noise(blurred, 2000, seed=seed), 0, 1), 12).astype(np.float32)
    start = estimate_learned_psf(image, refine=False).params
    on_mean = refine_psf(image, "motion", start, 64, welch_spectrum(image, 64, 1024))
    on_geometric = refine_psf(image, "motion", start, 64, welch_spectrum(image, 64, 1024, average="geometric"))
    assert REFINE_AVERAGE["motion"] == "geometric"
    assert abs(on_geometric["angle"] - 30.0) < 1.0 and abs(on_geometric["angle"] - 30.0) < abs(on_mean["angle"] - 30.0), (on_mean, on_geometric)
    assert abs(estimate_learned_psf(image, refine=True).params["angle"] - on_geometric["angle"]) < 1e-9
