"""Fast CPU tests of the deblurring networks (tiny inputs)."""

import warnings

import numpy as np
import pytest
import torch

from xraydeblur.models import ARCHITECTURES, DeepAutoencoder, NAFNet, SRCNN, UNet, build_model, count_parameters

torch.set_num_threads(1)


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g)


def test_build_model_and_registry():
    assert set(ARCHITECTURES) == {"srcnn", "dae", "dae_spatial", "unet", "nafnet"}
    assert isinstance(build_model("srcnn"), SRCNN)
    assert isinstance(build_model("nafnet", width=8), NAFNet)
    with pytest.raises(ValueError, match="nafnet"):
        build_model("resnet")


def test_srcnn_paper_padding_shapes():
    torch.manual_seed(0)
    m = SRCNN().eval()
    with torch.no_grad():
        assert m.conv1(_rand(1, 1, 224, 224)).shape[-2:] == (220, 220)
        assert m(_rand(1, 1, 224, 224)).shape == (1, 1, 224, 224)
        assert m(_rand(2, 1, 37, 53)).shape == (2, 1, 37, 53)
        assert SRCNN(paper_padding=False)(_rand(1, 1, 37, 53)).shape == (1, 1, 37, 53)


def test_srcnn_paper_padding_is_aligned():
    # a centred impulse must give a response centred on the same pixel
    m = SRCNN(channels=(1, 1)).eval()
    for conv in (m.conv1, m.conv2, m.conv3):
        torch.nn.init.zeros_(conv.bias)
        with torch.no_grad():
            conv.weight.zero_()
            k = conv.weight.shape[-1]
            conv.weight[..., k // 2, k // 2] = 1.0
    x = torch.zeros(1, 1, 31, 31)
    x[..., 15, 15] = 1.0
    with torch.no_grad():
        assert torch.equal(m(x), x)


def test_dae_shapes_determinism_kl():
    torch.manual_seed(0)
    m = DeepAutoencoder(image_size=64, base=8, latent=16)
    x = _rand(2, 1, 64, 64)
    m.train()
    y, kl = m.forward_with_kl(x)
    assert y.shape == x.shape and kl.dim() == 0
    assert torch.isfinite(kl) and kl.item() > 0
    assert ((y > 0) & (y < 1)).all()
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    with pytest.raises(ValueError):
        m(_rand(1, 1, 32, 64))
    with pytest.raises(ValueError):
        DeepAutoencoder(image_size=100)


def test_dae_default_size_and_params():
    m = DeepAutoencoder().eval()
    assert count_parameters(m) < 4_000_000
    with torch.no_grad():
        assert m(_rand(1, 1, 224, 224)).shape == (1, 1, 224, 224)


def test_unet_shapes():
    torch.manual_seed(0)
    m = UNet(base=4).eval()
    with torch.no_grad():
        for h, w in [(37, 53), (32, 48)]:
            y = m(_rand(1, 1, h, w))
            assert y.shape == (1, 1, h, w) and ((y >= 0) & (y <= 1)).all()
    assert count_parameters(UNet()) < 4_000_000


def test_unet_gradient_steps_reduce_loss():
    torch.manual_seed(0)
    m = UNet(base=4)
    x, t = _rand(2, 1, 32, 32, seed=1), _rand(2, 1, 32, 32, seed=2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(m(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_nafnet_shapes_identity_at_init():
    torch.manual_seed(0)
    m = NAFNet(width=8, enc_blocks=(1, 1, 1, 1)).eval()
    x = _rand(2, 1, 37, 53)
    with torch.no_grad():
        assert torch.equal(m(x), x)
    m2 = NAFNet(in_channels=2, width=8, enc_blocks=(1, 1, 1, 1)).eval()
    x2 = _rand(1, 2, 37, 53)
    with torch.no_grad():
        y2 = m2(x2)
    assert y2.shape == (1, 1, 37, 53) and torch.equal(y2, x2[:, :1])
    with pytest.raises(ValueError):
        m(x2)


def test_nafnet_default_parameter_count():
    n = count_parameters(NAFNet())
    assert 1e6 <= n <= 8e6


def _randomise_nafnet(m):
    # move away from the identity init so the export test is meaningful
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(("beta", "gamma")) or name.startswith("ending"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def test_nafnet_onnx_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    m = NAFNet().eval()
    _randomise_nafnet(m)
    x = _rand(1, 1, 48, 64)
    path = str(tmp_path / "nafnet.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(m, (x,), path, input_names=["input"], output_names=["output"], opset_version=17,
                              dynamic_axes={"input": {2: "H", 3: "W"}, "output": {2: "H", 3: "W"}}, dynamo=False)
        except Exception:  # legacy TorchScript exporter unavailable: use the default (torch.export) one
            h, w = torch.export.Dim("H", min=16, max=8192), torch.export.Dim("W", min=16, max=8192)
            torch.onnx.export(m, (x,), path, input_names=["input"], output_names=["output"], opset_version=18,
                              dynamic_shapes={"x": {2: h, 3: w}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for shape in [(1, 1, 48, 64), (1, 1, 37, 53)]:  # second one checks the dynamic H/W
        xi = x if shape == (1, 1, 48, 64) else _rand(*shape, seed=5)
        with torch.no_grad():
            ref = m(xi).numpy()
        out = sess.run(None, {name: xi.numpy()})[0]
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_fused_nafnet_is_the_same_function():
    """The inference form folds LayerNorm affine, residual scales and the gate split
    into convs and each upsampler into a transposed conv: the output must not change
    (beyond float rounding)."""
    from xraydeblur.models.nafnet_fused import FusedNAFBlock, fuse_nafnet

    torch.manual_seed(0)
    model = build_model("nafnet", in_channels=2, width=8, enc_blocks=[1, 2], middle_blocks=1, dec_blocks=[1, 1]).eval()
    with torch.no_grad():  # away from the identity initialisation: every folded term matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    fused = fuse_nafnet(model)
    assert sum(isinstance(m, FusedNAFBlock) for m in fused.modules()) == 6
    assert all(isinstance(up, torch.nn.ConvTranspose2d) for up in fused.ups)  # 1x1 conv + PixelShuffle
    x = torch.rand(2, 2, 40, 52)
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-5)
    assert not any(isinstance(m, FusedNAFBlock) for m in model.modules())  # original untouched


def test_srcnn_identity_init_starts_as_the_identity_and_spatial_vae_keeps_the_size():
    """SRCNN's identity_init changes only the initial weights (the paper's 9-1-5 layers);
    the spatial-latent VAE takes any size and starts close to its input (residual)."""
    x = torch.rand(2, 1, 40, 52)
    srcnn = build_model("srcnn", paper_padding=True, identity_init=True)
    assert torch.equal(srcnn(x)[..., 4:-4, 4:-4], x[..., 4:-4, 4:-4])
    assert [p.shape for p in srcnn.parameters()] == [p.shape for p in build_model("srcnn").parameters()]
    vae = build_model("dae_spatial", base=8, latent_channels=4).eval()
    y = vae(x)
    assert y.shape == x.shape
    vae.train()
    vae.return_kl = True
    _, kl = vae(x)
    assert kl.ndim == 0 and kl >= 0


def test_srcnn_linear_init_computes_the_given_filter_and_least_squares_finds_it():
    """init_linear makes the paper's SRCNN compute exactly a given 9x9 filter plus bias
    (a cross-correlation, interior pixels), and least_squares_filter recovers a filter
    that generated the pairs."""
    from scipy.ndimage import correlate

    from xraydeblur.train.linear_init import least_squares_filter

    rng = np.random.default_rng(0)
    truth = rng.normal(0, 0.2, (9, 9))
    truth[4, 4] += 1.0

    class Pairs:
        def pair(self, i):
            blurred = np.random.default_rng(i).random((40, 40)).astype(np.float32)
            return blurred, correlate(blurred.astype(np.float64), truth, mode="reflect") + 0.01, None

    filt, bias = least_squares_filter(Pairs(), 9, pairs=4, stride=1)
    assert np.allclose(filt, truth, atol=1e-6) and bias == pytest.approx(0.01, abs=1e-6)
    srcnn = build_model("srcnn", paper_padding=True)
    srcnn.init_linear(filt, bias)
    x = rng.random((48, 48)).astype(np.float32)
    with torch.no_grad():
        out = srcnn(torch.from_numpy(x)[None, None])[0, 0].numpy()
    expected = correlate(x.astype(np.float64), truth) + 0.01
    assert np.allclose(out[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-4)
    with pytest.raises(ValueError, match="filter shape"):
        srcnn.init_linear(np.ones((5, 5)))
