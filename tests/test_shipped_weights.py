"""Shipped weights: metadata, loading by name, CLI on 224x224 and larger (tiling),
tiling and ONNX tolerance with the trained flagship, default method."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from conftest import motion_blurred_scene
from xraydeblur.cli import main
from xraydeblur.infer.backends import OnnxBackend, TorchBackend, export_onnx
from xraydeblur.infer.tiling import tiled_apply
from xraydeblur.methods import available_methods, default_method, get_method
from xraydeblur.models.registry import WEIGHTS_DIR, shipped_variants, shipped_weights

PAPER_MODELS = ("srcnn", "dae", "unet")
FLAGSHIP = "nafnet-blind"
REQUIRED = ("arch", "kwargs", "config", "package_version", "git_commit", "data_manifest_sha256", "metrics", "weights_sha256")


def test_every_shipped_weights_file_has_metadata_and_is_small():
    stems = shipped_weights()
    assert {s.name for s in stems} >= set(PAPER_MODELS) | {FLAGSHIP}
    for stem in stems:
        meta = json.loads(stem.with_suffix(".json").read_text())
        for key in REQUIRED:
            assert key in meta, (stem.name, key)
        data = stem.with_suffix(".safetensors").read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["weights_sha256"]
        assert len(data) < 30e6
        assert (WEIGHTS_DIR / f"{stem.name}.log.csv").exists()


def test_every_method_tells_users_what_it_is():
    """``xraydeblur deblur --method list``, the API's model list and the page's method
    menu show each method's description: none may be empty (the shipped UNet's was)."""
    from xraydeblur.methods import available_methods, get_method

    empty = [name for name in available_methods() if not get_method(name).description.strip()]
    assert not empty, empty


def test_kernel_aware_flagship_is_the_flagship_network_with_the_data_step():
    """nafnet-kernel ships no weights of its own: it is nafnet-blind's network plus the
    data-consistency step, and the default when the kernel is known."""
    assert [s.name for s in shipped_variants()] == ["nafnet-auto", "nafnet-kernel", "nafnet-psf"]
    aware = get_method("nafnet-kernel")
    assert aware.extra["network"] == FLAGSHIP and aware.extra["kernel_aware"]
    assert aware.weights_sha256 == get_method(FLAGSHIP).weights_sha256
    assert aware.run.stem == get_method(FLAGSHIP).run.stem
    assert default_method(kernel_known=True) == "nafnet-kernel"


def test_psf_identifying_flagship_is_blind_and_steps_only_with_a_trusted_psf():
    """nafnet-psf: the flagship network; given no kernel it identifies one and, when the
    identification is trusted, equals nafnet-kernel given that kernel; otherwise it equals
    nafnet-blind. Scored and offered as blind, never the default with a known kernel."""
    from xraydeblur.evaluate import default_variants
    from xraydeblur.infer.identify import identified_kernel

    psf_method, blind, aware = get_method("nafnet-psf"), get_method(FLAGSHIP), get_method("nafnet-kernel")
    assert psf_method.identifies_psf and not psf_method.extra["kernel_aware"] and psf_method.extra["network"] == FLAGSHIP
    assert psf_method.weights_sha256 == blind.weights_sha256
    assert psf_method.run.identified_gains and not aware.run.identified_gains  # its own, more cautious step gains
    # the learned data step is the known kernel's and nafnet-auto's (chosen on validation:
    # benchmarks/trials/auto_learned_step.py); nafnet-psf keeps the tables it was chosen with
    auto = get_method("nafnet-auto").run
    assert aware.run.learned_step and not psf_method.run.learned_step and auto.learned_step and not auto.identified_gains
    assert default_method(kernel_known=True) == "nafnet-kernel" and default_method() == FLAGSHIP
    assert {v.label for v in default_variants(["nafnet-blind", "nafnet-psf"])} == {"blurred input", "nafnet-blind [blind]", "nafnet-psf [blind]"}

    sharp, blurred, true_kernel = motion_blurred_scene()
    kernel, facts = psf_method.kernel_in_use(blurred)
    assert facts["trusted"] and facts["family"] == "motion" and kernel is not None, facts
    assert psf_method.kernel_in_use(blurred, true_kernel) == (true_kernel, None)  # a given kernel wins
    out = psf_method(blurred)
    np.testing.assert_array_equal(out, psf_method(blurred, kernel))  # the data step with that PSF
    # as nafnet-kernel's network, then the data step with the identified PSF's tuned gains
    # (nafnet-kernel, given a kernel, takes the learned step; its backend may differ)
    from xraydeblur.infer.data_step import data_step

    np.testing.assert_allclose(out, data_step(blurred, blind(blurred), np.asarray(kernel, np.float64), identified=True), atol=2e-3)
    err = lambda x: float(np.mean((x - sharp)[16:-16, 16:-16] ** 2))  # noqa: E731
    assert err(out) < 0.5 * err(blind(blurred))

    kernel, facts = identified_kernel(sharp)  # nothing to identify: blind
    assert kernel is None and not facts["trusted"]
    np.testing.assert_allclose(psf_method(sharp), blind(sharp), atol=2e-3)
    small = identified_kernel(np.full((40, 300), 0.5, np.float32))
    assert small[0] is None and "no PSF search" in small[1]["reason"]


def test_flagship_is_the_default_method():
    assert default_method() == FLAGSHIP
    assert available_methods()[0] == FLAGSHIP


@pytest.mark.parametrize("name", PAPER_MODELS + (FLAGSHIP,))
@pytest.mark.parametrize("size", [(224, 224), (300, 520)])
def test_cli_deblurs_with_each_shipped_model(tmp_path, name, size):
    rng = np.random.default_rng(0)
    img = (np.clip(rng.random(size) * 0.2 + 0.4, 0, 1) * 255).astype(np.uint8)
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    out = tmp_path / "out.png"
    assert main(["deblur", str(src), "-o", str(out), "--method", name, "--quiet"]) == 0
    result = np.asarray(Image.open(out))
    assert result.shape == size


def _radiograph_crop(size=384):
    from shared_data import require_data
    from xraydeblur.data import load_image, split_rows

    require_data()
    img = load_image(split_rows("test")[0])
    h, w = img.shape
    return img[h // 2 - size // 2 : h // 2 + size // 2, w // 2 - size // 2 : w // 2 + size // 2]


def test_trained_flagship_tiling_and_onnx_tolerance():
    """Stated tolerances with the trained flagship on a real radiograph crop:
    tiled (256 px tiles, 64 px overlap) vs whole image: mean |diff| < 1e-3 and
    max < 2e-2 ([0, 1] units); onnxruntime vs PyTorch: max |diff| < 1e-4."""
    method = get_method(FLAGSHIP)
    model = method.run.model
    image = _radiograph_crop()[None].astype(np.float32)
    torch_backend = TorchBackend(model)
    whole = torch_backend(image[None])[0, 0]
    tiled = tiled_apply(torch_backend, image, tile=256, overlap=64)
    assert np.abs(whole - tiled).mean() < 1e-3 and np.abs(whole - tiled).max() < 2e-2
    onnx = OnnxBackend(export_onnx(model, 1))
    assert np.abs(onnx(image[None]) - whole[None, None]).max() < 1e-4


def test_flagship_improves_a_blurred_radiograph_and_passes_the_safeguard():
    from xraydeblur.degrade import Degradation
    from xraydeblur.metrics import psnr
    from xraydeblur.safeguard import check_consistency

    sharp = _radiograph_crop()
    blurred, kernel = Degradation("gaussian", {"sigma": 2.0}).apply(sharp)
    restored = get_method(FLAGSHIP)(blurred)
    assert psnr(sharp, restored, border=8) > psnr(sharp, blurred, border=8) + 1.0
    assert check_consistency(blurred, restored, kernel)["consistent"]


def test_kernel_aware_model_beats_blind_when_given_the_kernel():
    """Knowing the blur must help: on a motion-blurred test radiograph crop the
    kernel-aware network given the true kernel beats the blind flagship and Wiener
    with the same kernel."""
    from xraydeblur.degrade import Degradation
    from xraydeblur.metrics import psnr

    sharp = _radiograph_crop()
    blurred, kernel = Degradation("motion", {"length": 9, "angle": 30.0}).apply(sharp)
    aware = psnr(sharp, get_method("nafnet-kernel")(blurred, kernel), border=8)
    assert aware > psnr(sharp, get_method(FLAGSHIP)(blurred), border=8) + 1.0
    assert aware > psnr(sharp, get_method("wiener")(blurred, kernel), border=8)


def test_learned_psf_flagship_is_blind_and_steps_only_with_a_usable_estimate():
    """nafnet-auto: the flagship network; given no kernel the learned estimator names a
    PSF and, when the estimate is usable (buildable family, confidence at the shipped
    threshold), the data step runs with it; otherwise it equals nafnet-blind. Scored and
    offered as blind; the facts name the estimator and its confidence."""
    auto, blind = get_method("nafnet-auto"), get_method(FLAGSHIP)
    assert auto.identifies_psf and auto.psf_estimator == "learned" and not auto.extra["kernel_aware"]
    assert auto.weights_sha256 == blind.weights_sha256 and auto.describe()["psf_estimator"] == "learned"
    sharp, blurred, true_kernel = motion_blurred_scene()
    kernel, facts = auto.kernel_in_use(blurred)
    assert facts["estimator"] == "learned" and 0.0 <= facts["confidence"] <= 1.0 and "label" in facts
    assert (kernel is not None) == facts["trusted"]
    assert auto.kernel_in_use(blurred, true_kernel) == (true_kernel, None)
    out = auto(blurred)
    if kernel is None:
        np.testing.assert_array_equal(out, blind(blurred))
    else:
        np.testing.assert_array_equal(out, auto(blurred, kernel))
