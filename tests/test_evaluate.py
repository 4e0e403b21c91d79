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
    assert set(data["summary"]) == {"sigma 0.5-3 (drawn)", "sigma 1", "sigma 2", "sigma 3"}
    assert out.with_suffix(".md").read_text().count("|") > 10
    assert "PSNR" in capsys.readouterr().out
