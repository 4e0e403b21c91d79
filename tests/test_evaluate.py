"""Evaluation engine and `xraydeblur evaluate`: records, summary, markdown, JSON."""

import json

import numpy as np

from xraydeblur.cli import main
from xraydeblur.evaluate import Variant, evaluate, markdown_table, summarise


def test_engine_scores_variants_on_the_same_cases(test_methods):
    rng = np.random.default_rng(0)
    sharp = rng.random((64, 64)).astype(np.float32)
    cases = [("a::g1", "gaussian-sigma1", sharp, sharp * 0.9, np.ones((1, 1))), ("b::g1", "gaussian-sigma1", sharp, sharp * 0.8, np.ones((1, 1)))]
    variants = [Variant("blurred", "none"), Variant(test_methods[0], "none")]
    records = evaluate(cases, variants)
    assert len(records) == 4 and {r["variant"] for r in records} == {"blurred input", f"{test_methods[0]} [blind]"}
    summary = summarise(records)
    cell = summary["gaussian-sigma1"]["blurred input"]
    assert cell["n"] == 2 and abs(cell["psnr"] - np.mean([r["psnr"] for r in records if r["variant"] == "blurred input"])) < 1e-9
    table = markdown_table(summary)
    assert table.splitlines()[0].startswith("| degradation | blurred input") and "**" in table


def test_cli_evaluate_paper_protocol_writes_json_and_markdown(tmp_path, test_methods, capsys):
    from shared_data import require_data

    require_data()
    out = tmp_path / "paper.json"
    assert main(["evaluate", "--protocol", "paper", "--methods", test_methods[0], "--max-images", "1", "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["protocol"] == "paper" and data["images"] == 1 and len(data["data_manifest_sha256"]) == 64
    assert set(data["summary"]) == {"sigma 0.5-3 (drawn)", "sigma 1", "sigma 1.5", "sigma 2", "sigma 3"}
    assert out.with_suffix(".md").read_text().count("|") > 10
    assert "PSNR" in capsys.readouterr().out


def _tiny_network(folder, name, data):
    import torch

    from xraydeblur.models import build_model
    from xraydeblur.train.weights import save_weights

    torch.manual_seed(0)
    model = build_model("srcnn", paper_padding=False)
    folder.mkdir(exist_ok=True)
    save_weights(model, folder / name, {"arch": "srcnn", "kwargs": {"paper_padding": False}, "config": {"data": data}})


def test_evaluate_refuses_networks_that_trained_on_the_test_images(tmp_path, capsys):
    """Shipped networks trained on the patient split saw mhh patients: scoring them on
    the held-out mhh source must stop with a one-line reason, before any work."""
    from xraydeblur.evaluate import check_trained_for_split
    from xraydeblur.methods import _REGISTRY
    from xraydeblur.models.registry import register_weights_dir

    assert main(["evaluate", "--scheme", "source", "--held-out", "mhh", "--methods", "nafnet-blind", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: nafnet-blind was trained with scheme=patient") and "\n" not in err

    _tiny_network(tmp_path / "w", "tiny-unseen", {"scheme": "source", "held_out": "mhh"})
    try:
        assert register_weights_dir(tmp_path / "w") == ["tiny-unseen"]
        check_trained_for_split([Variant("tiny-unseen", "none")], "source", "mhh")  # allowed
        for scheme, held_out in (("source", "nih"), ("patient", "mhh")):
            try:
                check_trained_for_split([Variant("tiny-unseen", "none")], scheme, held_out)
            except ValueError as exc:
                assert "tiny-unseen" in str(exc)
            else:
                raise AssertionError(f"{scheme}/{held_out} should be refused")
    finally:
        _REGISTRY.pop("tiny-unseen", None)
    assert main(["evaluate", "--weights-dir", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "no weights" in capsys.readouterr().err


def test_a_kernel_aware_variant_needs_a_learned_step_trained_on_its_split(tmp_path):
    """A weights folder's kernel-aware variant takes the learned data step from its own
    ``step/`` folder; without one it gets the shipped step, trained on the patient split,
    and scoring it on a held-out source is refused (that step saw the source's patients)."""
    import json
    import shutil

    from xraydeblur.evaluate import check_trained_for_split
    from xraydeblur.infer.learned_step import STEP_STEM
    from xraydeblur.methods import _REGISTRY, get_method
    from xraydeblur.models.registry import register_weights_dir

    folder = tmp_path / "w"
    _tiny_network(folder, "tiny-unseen", {"scheme": "source", "held_out": "mhh"})
    (folder / "tiny-unseen-kernel.json").write_text(json.dumps({"name": "tiny-unseen-kernel", "network": "tiny-unseen", "kernel_aware": True}))
    try:
        register_weights_dir(folder)
        assert get_method("tiny-unseen-kernel").extra["learned_step"] == str(STEP_STEM)
        try:
            check_trained_for_split([Variant("tiny-unseen-kernel", "none")], "source", "mhh")
        except ValueError as exc:
            assert "learned data step" in str(exc)
        else:
            raise AssertionError("the shipped step saw mhh patients: should be refused")
        (folder / "step").mkdir()
        shutil.copy(STEP_STEM.with_suffix(".safetensors"), folder / "step" / f"{STEP_STEM.name}.safetensors")
        settings = json.loads(STEP_STEM.with_suffix(".json").read_text())
        settings["training_data"].update(scheme="source", held_out="mhh")
        (folder / "step" / f"{STEP_STEM.name}.json").write_text(json.dumps(settings))
        register_weights_dir(folder)
        method = get_method("tiny-unseen-kernel")
        assert method.extra["learned_step"] == str(folder / "step" / STEP_STEM.name)
        check_trained_for_split([Variant("tiny-unseen-kernel", "none")], "source", "mhh")  # allowed
        assert method.run.step_stem == folder / "step" / STEP_STEM.name
    finally:
        _REGISTRY.pop("tiny-unseen", None)
        _REGISTRY.pop("tiny-unseen-kernel", None)


def test_speed_is_measured_in_a_fresh_process():
    from xraydeblur.speed import measure_speed, speed_table

    row = measure_speed("wiener", size=192, repeats=1, threads=1)
    assert row["method"] == "wiener" and row["seconds"] > 0 and row["peak_rss_mb"] > 10 and row["threads"] == 1
    assert row["seconds_per_mp"] == row["seconds"] / (192 * 192 / 1e6)
    assert "| wiener | numpy |" in speed_table([row])
    assert "error" in measure_speed("no-such-method", size=64, repeats=1)
    assert row["kernel"] == "none (blind)"
    assert "| nafnet-kernel [kernel given] |" in speed_table([{**row, "method": "nafnet-kernel", "kernel": "gaussian sigma 2 (given)"}])
    assert row["scene"] == "noise-free"
    noisy = measure_speed("wiener", size=128, repeats=1, threads=1, noisy=True)
    assert noisy["scene"].startswith("noisy (Gaussian sigma 2 px, dose 2000")
    assert "| wiener [noisy] |" in speed_table([noisy])


def test_summary_by_source():
    from xraydeblur.evaluate import source_of

    assert source_of("cxr/nih/00001.png::gaussian-sigma1") == "nih"
    records = [
        {"case": f"cxr/{src}/a.png::{fam}", "family": fam, "variant": "v", "psnr": p, "ssim": 0.9, "psnr_interior": p, "ssim_interior": 0.9, "seconds_per_mp": 1.0}
        for src, fam, p in [("nih", "g1", 30.0), ("nih", "g2", 32.0), ("mhh", "g1", 40.0)]
    ]
    by_source = summarise(records, by="source")
    assert by_source["nih"]["v"]["psnr"] == 31.0 and by_source["mhh"]["v"]["n"] == 1


def test_paired_table_reports_per_image_differences_with_an_interval(tmp_path, capsys):
    """scripts/paired_table.py: mean, 95 % interval and wins of paired differences."""
    import json
    import sys

    from conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        from paired_table import main, paired
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))
    mean, low, high, wins, n = paired({"a": 2.0, "b": 3.0, "c": 4.0}, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 9.0})
    assert (mean, wins, n) == (2.0, 3, 3)  # only images both have
    assert low < 2.0 < high and abs((high - low) / 2 - 4.303 * 1.0 / 3**0.5) < 1e-3  # t(0.975, 2) = 4.303
    psnr = {"nafnet-blind [blind]": (30.0, 31.0), "nafnet-kernel [true kernel]": (30.5, 30.9), "wiener [true kernel]": (29.0, 29.5)}
    records = [
        {"case": f"img{i}::gaussian-sigma1", "family": "gaussian-sigma1", "variant": variant, "psnr": values[i]}
        for variant, values in psnr.items()
        for i in range(2)
    ]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"records": records}))
    main(str(path))
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row.startswith("| gaussian-sigma1 | +0.20 (") and "| 1/2 |" in row and "| 2/2 |" in row


def test_compare_kernel_trial_scores_both_networks_at_the_shipped_gain():
    """scripts/compare_kernel_trial.py reads each row at the gain shipped for its class."""
    import sys

    from conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        from compare_kernel_trial import compare
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))
    shipped = {
        "row_class": {"m5": "motion", "m5n": "motion+noise"},
        "gains": {"motion": 0.1, "motion+noise": "discrepancy"},
        "table": {"m5": {"blind": 30.0, "gain 0.1": 35.0, "gain 1": 99.0}, "m5n": {"blind": 28.0, "discrepancy 1": 28.5}},
    }
    trial = {"table": {"m5": {"gain 0.1": 36.0, "gain 1": 0.0}, "m5n": {"discrepancy 1": 27.5}}}
    assert compare(shipped, trial) == [("m5", 30.0, 35.0, 36.0), ("m5n", 28.0, 28.5, 27.5)]


def test_kernel_aware_variant_of_a_scored_network_is_scored_with_the_kernel_only():
    from xraydeblur.evaluate import Variant, default_variants

    labels = {v.label for v in default_variants(["nafnet-blind", "nafnet-kernel", "wiener"])}
    assert {"nafnet-blind [blind]", "nafnet-kernel [true kernel]", "wiener [true kernel]", "wiener [blind]"} <= labels
    assert Variant("nafnet-kernel", "none").label not in labels  # it would be nafnet-blind again
    assert "nafnet-kernel [blind]" in {v.label for v in default_variants(["nafnet-kernel"])}


def test_data_step_gain_choice_from_scored_samples():
    """benchmarks/data_step_gain.py: per class the rule with the best mean PSNR (ties to
    the rule listed first), the discrepancy target from the noisy samples, and shards
    merge into the same choice."""
    import math
    import sys

    from conftest import PROJECT_ROOT

    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    try:
        from data_step_gain import GAINS, TARGETS, choose, gain_label, rule_label
    finally:
        sys.path.remove(str(PROJECT_ROOT / "benchmarks"))

    def sample(image, cls, best=None, value=40.0):
        scores = {"blind": 30.0, "z": 30.0, "wiener": 31.0, "discrepancy-pg": 30.0}
        scores.update({gain_label(g): 30.0 for g in GAINS})
        scores.update({rule_label("discrepancy", t): 30.0 + (0.5 if t == 1.1 and cls == "motion+noise" else 0.0) for t in TARGETS})
        if best:
            scores[best] = value
        return {"image": image, "family": cls + "-row", "class": cls, "psnr": scores}

    samples = [sample("a", "motion", "gain 0.1"), sample("b", "motion", "gain 0.1"), sample("a", "motion+noise", "discrepancy-pg", 30.6), sample("a", "disk+noise")]
    result = choose(samples)
    assert result["gains"]["motion"] == 0.1
    assert result["gains"]["motion+noise"] == "discrepancy-pg"
    assert result["discrepancy_target"] == 1.1
    assert result["gains"]["disk+noise"] == GAINS[0]  # all tied: the first listed rule
    assert result["images"] == 2 and result["class_samples"]["motion"] == 2
    assert math.isclose(result["table"]["motion-row"]["gain 0.1"], 40.0)
    assert choose(samples[2:] + samples[:2])["gains"] == result["gains"]  # order (shards) does not matter
    # a trial's own candidate gains (--gains): a column outside them is never chosen
    trial = [sample("a", "motion", "gain 0.1")]
    trial[0]["psnr"]["gain 0.01"] = 35.0
    assert choose(trial, gains=(0.01, 0.03, math.inf))["gains"]["motion"] == 0.01


def test_benchmark_inputs_rounded_to_8bit_are_on_the_8bit_grid():
    """``evaluate --input-bits 8`` scores inputs as an 8-bit upload holds them."""
    from shared_data import require_data

    from xraydeblur.classical._common import is_8bit_quantised
    from xraydeblur.data import split_rows
    from xraydeblur.evaluate import benchmark_iter

    require_data()
    row = split_rows("val")[0]
    float_cases = list(benchmark_iter([row], crop=128))
    rounded_cases = list(benchmark_iter([row], crop=128, input_bits=8))
    assert len(float_cases) == len(rounded_cases) == 14
    for (key, family, sharp, degraded, kernel), (key8, family8, sharp8, degraded8, kernel8) in zip(float_cases, rounded_cases):
        assert key8 == key + "+8bit" and family8 == family + "+8bit"
        assert np.array_equal(sharp, sharp8) and np.array_equal(kernel, kernel8)
        assert np.abs(degraded8 - degraded).max() <= 0.5 / 255 + 1e-6
        assert is_8bit_quantised(degraded8) and not is_8bit_quantised(degraded)


def test_denoise_zero_is_scored_against_the_sharp_image_plus_its_own_noise():
    """A perfect restoration given the true kernel, with the noise put back, is exactly
    the S = 0 target x + n; the blurred input is scored as it is."""
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.degrade import Degradation
    from xraydeblur.evaluate import Variant, keep_noise_pair

    sharp = power_law_scene(96, seed=2)
    degraded, kernel = Degradation("gaussian", {"sigma": 2.0}, dose=2000.0, read_noise=0.002).apply(sharp)
    target, out = keep_noise_pair(sharp, degraded, kernel, sharp, Variant("wiener", "true"), None)
    np.testing.assert_allclose(out, np.clip(target, 0, 1), atol=1e-6)
    assert np.abs(target - sharp).std() > 0.003  # the noise is in the target
    _, as_is = keep_noise_pair(sharp, degraded, kernel, degraded, Variant("blurred", "none"), None)
    assert np.array_equal(as_is, degraded)


def test_update_replaces_only_the_rescored_methods(tmp_path, capsys):
    """``--update`` re-scores some methods of an earlier run and keeps the others'
    records; a run of other cases is refused."""
    from shared_data import require_data

    from xraydeblur.cli import main

    require_data()
    out = tmp_path / "run.json"
    base = ["evaluate", "--max-images", "1", "--crop", "64", "--out", str(out), "--quiet"]
    assert main([*base, "--methods", "wiener"]) == 0
    first = json.loads(out.read_text())
    assert main([*base, "--methods", "richardson-lucy", "--update"]) == 0
    merged = json.loads(out.read_text())
    variants = {r["variant"] for r in merged["records"]}
    assert {"wiener [true kernel]", "richardson-lucy [true kernel]", "blurred input"} <= variants
    kept = [r for r in merged["records"] if r["variant"].startswith("wiener")]
    assert kept == [r for r in first["records"] if r["variant"].startswith("wiener")]
    assert merged["command"] == first["command"] and len(merged["updated_by"]) == 1
    capsys.readouterr()
    assert main(["evaluate", "--max-images", "1", "--crop", "96", "--out", str(out), "--quiet", "--methods", "wiener", "--update"]) == 2
    assert "not the same cases" in capsys.readouterr().err
