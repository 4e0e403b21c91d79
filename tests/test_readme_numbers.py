"""Every figure README.md quotes in its results section is a committed measurement.

The rule, kept simple so that it stays true: between ``<!-- results:start -->`` and
``<!-- results:end -->`` of README.md, every number in a table cell (the first column,
the row's label, excepted) and every number followed by a unit (dB, s, ms, MB, GB, %,
or ``x`` written straight after it, as in 1.26x) must equal some number of the committed
results JSONs that the section names (paths under docs/results/ or benchmarks/results/),
rounded to as many decimals as README writes it: 38.51 matches 38.5139..., 666 matches
665.53. Per-case lists (``records``, ``samples``) are left out: with them nearly every
two-decimal PSNR occurs somewhere and the check would pass anything. A quoted figure
that no JSON holds (a difference, a figure from elsewhere) must be written into a JSON
first, as the paper's own numbers are in docs/results/paper_published.json.
"""

import json
import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
NUMBER = r"[-+]?\d+(?:\.\d+)?"
WITH_UNIT = re.compile(rf"({NUMBER})(?:\s*(?:dB|ms|s|MB|GB|%)(?![A-Za-z])|x(?![A-Za-z]))")


def results_section(text: str) -> str:
    assert START in text and END in text, f"README.md needs the markers {START} and {END}"
    return text.split(START, 1)[1].split(END, 1)[0]


def quoted_numbers(section: str) -> list[str]:
    """The numbers the rule checks, as README writes them (strings keep the decimals)."""
    found = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            if all(set(c.strip()) <= set("-: ") for c in cells):
                continue  # the |---| line
            found += [n for cell in cells[1:] for n in re.findall(rf"(?<![\w.]){NUMBER}(?![\w.])", cell)]
        else:
            found += WITH_UNIT.findall(line)
    return found


PER_CASE = {"records", "samples"}


def named_jsons(section: str) -> list[Path]:
    """The results JSONs the section names; each must exist and be committed there."""
    names = sorted(set(re.findall(r"(?:docs/results|benchmarks/results)/[\w./-]+?\.json", section)))
    assert names, "the README results section must name the JSONs its figures come from"
    paths = [ROOT / n for n in names]
    assert all(p.exists() for p in paths), [n for n, p in zip(names, paths) if not p.exists()]
    return paths


def json_numbers(paths: list[Path]) -> list[float]:
    numbers: list[float] = []

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in PER_CASE:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            numbers.append(float(value))

    for path in paths:
        walk(json.loads(path.read_text()))
    return numbers


def matches(quoted: str, numbers_by_decimals: dict[int, set[float]]) -> bool:
    decimals = len(quoted.split(".")[1]) if "." in quoted else 0
    value = float(quoted.lstrip("+"))
    return round(value, decimals) in numbers_by_decimals.setdefault(decimals, set())


def test_the_rule_on_its_own_example():
    section = "| row 2 px | 33.17 | +0.5 |\n|---|---|---|\nSpeed 2048 x 2048: 3.74 s, 666 MB, 1.26x faster, 12 % (docs/results/speed.json)"
    assert quoted_numbers(section) == ["33.17", "+0.5", "3.74", "666", "1.26", "12"]
    assert named_jsons(section) == [ROOT / "docs/results/speed.json"]
    table = {2: {33.17}}
    assert matches("33.17", table) and not matches("33.18", table)


def test_every_figure_readme_quotes_is_in_a_committed_results_json():
    section = results_section((ROOT / "README.md").read_text())
    quoted = quoted_numbers(section)
    assert quoted, "the README results section quotes no figure"
    numbers = json_numbers(named_jsons(section))
    by_decimals = {d: {round(x, d) for x in numbers} for d in range(5)}
    missing = [q for q in quoted if not matches(q, by_decimals)]
    assert not missing, (
        f"README.md quotes {missing}, found in none of the results JSONs its results section "
        "names, at README's rounding; re-run the command that makes the figure, or correct README"
    )
