"""Training pipeline: config, single-process run, resume, weights metadata, DDP."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from xraydeblur.train import load_config, train
from xraydeblur.train.weights import load_weights

TINY = {
    "name": "tiny",
    "model": {"arch": "nafnet", "kwargs": {"width": 8, "enc_blocks": [1, 1, 1, 1], "dec_blocks": [1, 1, 1, 1]}},
    "data": {"preset": "synthetic", "patch": 32, "samples_per_epoch": 16, "val_samples": 2, "val_patch": 32},
    "batch_size": 4,
    "epochs": 2,
    "optimizer": {"lr": 1e-3},
    "schedule": {"warmup_steps": 2},
}


def test_config_defaults_and_validation():
    cfg = load_config(TINY)
    assert cfg["loss"]["kind"] == "charbonnier" and cfg["data"]["patch"] == 32
    with pytest.raises(ValueError):
        load_config({"model": {}})


def test_validation_crops_follow_val_seed_not_the_training_seed():
    """Runs of different seeds draw different validation crops (seed + 1), unless
    data.val_seed fixes them: only then are their val_psnr comparable."""
    from xraydeblur.train.data import build_datasets

    def val_pixels(seed, val_seed=None):
        cfg = load_config({**TINY, "seed": seed, "data": {**TINY["data"], "val_seed": val_seed}})
        return np.asarray(build_datasets(cfg)[1][0][0])

    assert not np.array_equal(val_pixels(0), val_pixels(3))
    assert np.array_equal(val_pixels(0, val_seed=4), val_pixels(3))  # 3 + 1
    assert np.array_equal(val_pixels(0, val_seed=9), val_pixels(5, val_seed=9))


def test_train_writes_weights_logs_and_resumes(tmp_path):
    best = train(TINY, tmp_path, resume=False, progress=False)
    assert best["epoch"] >= 1
    for name in ("config.yaml", "last.pt", "best.safetensors", "best.json", "log.csv"):
        assert (tmp_path / name).exists(), name
    assert any((tmp_path / "tb").iterdir())
    state, meta = load_weights(tmp_path / "best")
    assert meta["arch"] == "nafnet" and meta["package_version"] and len(meta["weights_sha256"]) == 64
    assert meta["data_manifest_sha256"] == "synthetic" and "config" in meta
    # resuming a finished run does no more epochs
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert "data_wait_seconds" in lines[0].split(",")  # time blocked on the loader, per epoch
    train({**TINY, "epochs": 3}, tmp_path, resume=True, progress=False)
    assert len((tmp_path / "log.csv").read_text().splitlines()) == len(lines) + 1


def test_vae_and_kernel_aware_train(tmp_path):
    cfg = {**TINY, "model": {"arch": "dae", "kwargs": {"image_size": 32, "base": 8, "latent": 16}}, "epochs": 1}
    train(cfg, tmp_path / "dae", resume=False, progress=False)
    cfg = {**TINY, "kernel_aware": True, "epochs": 1}
    train(cfg, tmp_path / "ka", resume=False, progress=False)
    assert json.loads((tmp_path / "ka" / "best.json").read_text())["kernel_aware"] is True


def test_ddp_two_processes_stay_identical(tmp_path):
    """Two CPU processes (gloo) train a few steps; their parameters must match exactly."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "epochs": 1, "data": {**TINY["data"], "samples_per_epoch": 32}}))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "xraydeblur.train", "--config", str(config), "--out", str(out), "--no-resume"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    assert ranks[0]["param_sum"] == ranks[1]["param_sum"]
    meta = json.loads((out / "best.json").read_text())
    assert meta["world_size"] == 2


def test_kernel_aware_model_initialised_from_blind_weights(tmp_path):
    train(TINY, tmp_path / "blind", resume=False, progress=False)
    cfg = {**TINY, "kernel_aware": True, "epochs": 1, "init_weights": str(tmp_path / "blind" / "best")}
    train(cfg, tmp_path / "ka", resume=False, progress=False, max_steps=1)
    state, meta = load_weights(tmp_path / "ka" / "best")
    assert state["intro.weight"].shape[1] == 2
    _, blind_meta = load_weights(tmp_path / "blind" / "best")
    assert meta["init_weights_sha256"] == blind_meta["weights_sha256"]  # provenance by content


def test_kernel_aware_init_starts_at_the_wiener_estimate(tmp_path):
    """residual_channel 1 + init_zero [ending]: before any step the kernel-aware network
    returns exactly its Wiener channel, so training starts from the classical estimate."""
    import numpy as np
    import torch

    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.models import build_model
    from xraydeblur.models.kernel_input import network_input, wiener_channel
    from xraydeblur.train.loop import _load_init

    train(TINY, tmp_path / "blind", resume=False, progress=False, max_steps=2)
    kwargs = {**TINY["model"]["kwargs"], "in_channels": 2, "residual_channel": 1}
    model = build_model("nafnet", **kwargs).eval()
    _load_init(model, tmp_path / "blind" / "best", zero=["ending"])
    assert float(model.encoders[0][0].conv1.weight.detach().abs().sum()) > 0  # features kept
    blurred = torch.rand(1, 1, 48, 48)
    kernel = torch.from_numpy(gaussian_kernel(1.5).astype(np.float32))[None, None]
    x = network_input(blurred, kernel)
    assert np.allclose(x[0, 1].numpy(), wiener_channel(blurred[0, 0].numpy(), kernel[0, 0].numpy()))
    with torch.no_grad():
        assert torch.allclose(model(x), x[:, 1:2], atol=1e-6)


def test_a_deeper_nafnet_starts_as_the_shallower_one_it_is_initialised_from(tmp_path):
    """nafnet-large (configs/gpu/nafnet_large_gpu.yaml) adds whole NAFBlocks to the
    flagship's levels: initialised from the flagship it returns the flagship's output
    exactly; weights that do not fit (a missing layer that is not a whole block) fail."""
    import pytest
    import torch

    from xraydeblur.models import build_model
    from xraydeblur.train.loop import _load_init
    from xraydeblur.train.weights import save_weights

    shallow = build_model("nafnet", width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))
    with torch.no_grad():  # a trained-looking network: every scale non-zero
        for p in shallow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_weights(shallow, tmp_path / "shallow", {})
    deep = build_model("nafnet", width=8, enc_blocks=(1, 3), middle_blocks=2, dec_blocks=(2, 1))
    _load_init(deep, tmp_path / "shallow")
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(deep.eval()(x), shallow.eval()(x), atol=1e-6)
    narrower = build_model("nafnet", width=8, enc_blocks=(1,), middle_blocks=1, dec_blocks=(1,))
    with pytest.raises(ValueError, match="do not fit"):
        _load_init(narrower, tmp_path / "shallow")


def test_srcnn_starts_at_the_least_squares_filter(tmp_path, monkeypatch):
    """init_linear fits the filter on training pairs and SRCNN starts there (recorded)."""
    import xraydeblur.train.linear_init as linear_init

    seen = {}

    def fake_fit(source, size, pairs):
        seen.update(size=size, pairs=pairs, sample=source.pair(0)[0].shape)
        filt = np.zeros((size, size))
        filt[size // 2, size // 2] = 1.0
        return filt, 0.0

    monkeypatch.setattr(linear_init, "least_squares_filter", fake_fit)
    cfg = {**TINY, "name": "srcnn", "model": {"arch": "srcnn", "kwargs": {"paper_padding": True}}, "init_linear": {"pairs": 3}, "epochs": 1,
           "optimizer": {"lr": 1e-9}}
    train(cfg, tmp_path, resume=False, progress=False)
    state, meta = load_weights(tmp_path / "best")
    assert seen == {"size": 9, "pairs": 3, "sample": (32, 32)}
    assert meta["init"] == "least-squares linear filter on 3 training pairs"
    assert float(state["conv1.weight"][0, 0, 4, 4]) == pytest.approx(1.0, abs=1e-5)
    # a continuation stage starts from those weights, not at the filter: no such claim
    train({**cfg, "init_weights": str(tmp_path / "best")}, tmp_path / "cont", resume=False, progress=False)
    meta = load_weights(tmp_path / "cont" / "best")[1]
    assert "init" not in meta and len(meta["init_weights_sha256"]) == 64


def test_config_base_chain(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**TINY, "epochs": 7}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\ndata: {scheme: source}\n")
    cfg = load_config(tmp_path / "sub" / "b.yaml")
    assert cfg["epochs"] == 7 and cfg["data"]["scheme"] == "source" and cfg["data"]["patch"] == 32
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ValueError):
        load_config(tmp_path / "loop.yaml")


def test_a_continuation_stage_stays_on_the_split_of_the_run_it_continues(tmp_path, monkeypatch):
    """scripts/train_paper_models.py --continue-minutes: a run trained with a source held
    out continues on that scheme (it once fell back to the patient split, whose training
    part holds the held-out source's images)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_paper_models.py"
    spec = importlib.util.spec_from_file_location("train_paper_models", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folder = tmp_path / "srcnn"
    (folder / "main").mkdir(parents=True)
    main_cfg = load_config(f"{path.parents[1]}/configs/srcnn_paper.yaml")
    main_cfg["data"].update({"scheme": "source", "held_out": "mhh"})
    (folder / "main" / "config.yaml").write_text(yaml.safe_dump(main_cfg))
    plan = {"choice": {"optimizer.lr": 3e-3}, "main": {"best_val_psnr": 30.0, "seconds_per_step": 1.0}, "main_folder": str(folder / "main")}
    (folder / "plan.json").write_text(json.dumps(plan))
    seen = []
    monkeypatch.setattr(script, "_run", lambda cfg, out: seen.append(cfg) or {"best_val_psnr": 29.0, "seconds_per_step": 1.0})
    monkeypatch.chdir(path.parents[1])
    script.continue_training("srcnn", tmp_path, 1.0)
    assert seen[0]["data"]["scheme"] == "source" and seen[0]["data"]["held_out"] == "mhh"
    assert seen[0]["loss"]["kind"] == "mse"
    # a stage may change the loss: a variant, never the shipped main_folder even when better
    monkeypatch.setattr(script, "_run", lambda cfg, out: seen.append(cfg) or {"best_val_psnr": 31.0, "seconds_per_step": 1.0})
    script.continue_training("srcnn", tmp_path, 1.0, loss="psnr")
    assert seen[1]["loss"]["kind"] == "psnr"
    plan = json.loads((folder / "plan.json").read_text())
    assert plan["continuations"][-1]["loss.kind"] == "psnr" and plan["continuations"][-1]["variant"] is True
    assert plan["main_folder"] == str(folder / "main")
    script.continue_training("srcnn", tmp_path, 1.0)  # the paper's loss again, better: shipped
    assert json.loads((folder / "plan.json").read_text())["main_folder"] == str(tmp_path / "srcnn" / "cont3")


def test_psnr_loss_is_minus_the_mean_psnr():
    """loss kind psnr: every image counts by its PSNR (the paper's metric), not its MSE."""
    import torch

    from xraydeblur.metrics import psnr
    from xraydeblur.train.losses import restoration_loss

    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((3, 1, 24, 24), dtype=np.float32))
    pred = (target + torch.from_numpy(rng.normal(0, 1, (3, 1, 24, 24)).astype(np.float32)) * torch.tensor([0.03, 0.06, 0.1])[:, None, None, None]).clamp(0, 1)
    mean_psnr = np.mean([psnr(target[i, 0].numpy(), pred[i, 0].numpy()) for i in range(3)])
    assert float(restoration_loss(pred, target, {"kind": "psnr"})) == pytest.approx(-mean_psnr, abs=0.03)  # eps: 50 dB ceiling


def test_validation_reports_the_mse_whatever_the_loss_and_old_logs_keep_their_columns(tmp_path):
    """val_mse (the paper's validation loss) is logged with any training loss; a run
    resumed on a log written before that column existed keeps the log's columns."""
    import csv

    from xraydeblur.train.loop import validation_metrics

    cfg = {**TINY, "loss": {"kind": "psnr"}, "epochs": 1}
    best = train(cfg, tmp_path, resume=False, progress=False)
    assert best["val_loss"] < 0 < best["val_mse"] < 1
    again = validation_metrics(load_config(cfg), tmp_path / "best")
    assert again["val_mse"] == pytest.approx(best["val_mse"], rel=1e-4)
    log = tmp_path / "log.csv"
    rows = list(csv.reader(log.open()))
    old = [[c for c, name in zip(row, rows[0]) if name != "val_mse"] for row in rows]
    log.write_text("\n".join(",".join(r) for r in old) + "\n")
    train({**cfg, "epochs": 2}, tmp_path, resume=True, progress=False)
    rows = list(csv.reader(log.open()))
    assert "val_mse" not in rows[0] and {len(r) for r in rows} == {len(rows[0])} and len(rows) == 3


def test_a_time_budget_sets_the_cosine_and_stops_the_run(tmp_path):
    """``schedule.seconds`` (a run sized for a lent GPU): the learning rate follows the
    cosine over elapsed seconds, not steps, and the run stops once the time is spent
    (here long before its 1000 epochs), having validated and saved its best weights."""
    from xraydeblur.train.loop import _lr_at

    cfg = load_config({**TINY, "schedule": {"warmup_steps": 2, "min_lr": 0.0, "seconds": 100}})
    assert _lr_at(50, 10, cfg, elapsed=0.0) == pytest.approx(1e-3)
    assert _lr_at(50, 10, cfg, elapsed=50.0) == pytest.approx(5e-4)
    assert _lr_at(50, 10, cfg, elapsed=150.0) == pytest.approx(0.0)
    assert _lr_at(5, 10, load_config(TINY)) < 1e-3  # no budget: by steps, as before

    budget = {**TINY, "epochs": 1000, "schedule": {"warmup_steps": 2, "seconds": 1.0}}
    train(budget, tmp_path, resume=False, progress=False)
    epochs = len((tmp_path / "log.csv").read_text().splitlines()) - 1
    assert 1 <= epochs < 1000 and (tmp_path / "best.safetensors").exists()
    assert torch_load_state(tmp_path / "last.pt")["seconds_trained"] >= 1.0


def torch_load_state(path):
    import torch

    return torch.load(path, weights_only=False)["state"]


@pytest.mark.parametrize("workers", [0, 2])
def test_one_loader_for_the_run_draws_each_epochs_own_pairs(workers):
    """The training loop keeps one DataLoader (its workers persist across epochs, with
    the radiographs they decoded); it still draws, per epoch and rank, exactly the pairs
    a loader made afresh after ``set_epoch`` draws, and other pairs in the next epoch."""
    from torch.utils.data import DataLoader

    from xraydeblur.train.data import EpochIndexed, EpochSampler, build_datasets

    cfg = load_config(TINY)
    train_set = build_datasets(cfg)[0]
    sampler = EpochSampler(len(train_set), 4, rank=1, world=2)
    loader = DataLoader(EpochIndexed(train_set), batch_size=2, sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
    drawn = []
    for epoch in (0, 1):
        sampler.epoch = epoch
        batches = [batch[0].numpy() for batch in loader]
        train_set.set_epoch(epoch)
        expected = [train_set[i][0].numpy() for i in (1, 3, 5, 7)]
        assert np.array_equal(np.concatenate(batches), np.stack(expected)), epoch
        drawn.append(np.concatenate(batches))
    assert not np.array_equal(drawn[0], drawn[1])
