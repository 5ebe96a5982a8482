"""Smoke test of benchmarks/bench_svm.py on a small problem: it runs and prints the ratio line."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

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
        assert float(ratio) == pytest.approx(float(ours) / float(theirs), rel=0.05, abs=0.01)
        assert float(agree) >= 0.995
    assert "worst ratio" in out
