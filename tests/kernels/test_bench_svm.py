"""Smoke test of benchmarks/bench_svm.py on a small problem: it runs and prints the ratio line."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_svm.py"


def test_bench_svm_prints_times_and_ratio_on_small_problem(capsys):
    spec = importlib.util.spec_from_file_location("bench_svm", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--n", "150", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    lines = re.findall(r"nnlab\s+([\d.]+) ms .* scikit-learn\s+([\d.]+) ms .* ratio\s+([\d.]+)\s+identical "
                       r"predictions ([\d.]+)", out)
    assert len(lines) == 2
    for ours, theirs, ratio, agree in lines:
        ours, theirs, ratio = float(ours), float(theirs), float(ratio)   # times printed to 0.1 ms
        assert (ours - 0.05) / (theirs + 0.05) - 0.01 <= ratio <= (ours + 0.05) / max(theirs - 0.05, 1e-9) + 0.01
        assert float(agree) >= 0.995
    assert "worst ratio" in out
