"""Wall time of one nnlab tune study with ``--jobs 2`` vs ``--jobs 1`` on this machine (goal on 2 cores: ratio
jobs2/jobs1 <= 0.65).

Each study is a grid of ``--trials`` learning rates for the default digits-mlp network ([256, 128], batch norm,
Adam) trained ``--epochs`` epochs (40: about 2 s per trial on one core), with the default SQLite storage. Each
study runs in a fresh Python process, as ``nnlab tune`` would, so both pay the same cold imports and the
``--jobs 2`` parent gets nothing warm from the ``--jobs 1`` run. Prints both times, the ratio, the mean trial
duration and the load average before and after (other work on the machine skews the ratio: hold
/tmp/nnlab_full.lock).

    python benchmarks/bench_tune.py [--trials 8] [--epochs 40] [--hidden 256,128] [--trial-plots]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, sys, time
from nnlab.tune import tune

a = json.loads(sys.argv[1])
lrs = ",".join(f"{1e-3 * (1.2 ** k):.4g}" for k in range(a["trials"]))
start = time.perf_counter()
st = tune("digits-mlp", [f"learning_rate=grid:{lrs}"], sampler="grid", pruner="none", jobs=a["jobs"],
          fixed={"hidden_dims": a["hidden"], "num_epochs": a["epochs"]}, out=a["out"], study=f"bench-jobs{a['jobs']}",
          keep_weights=False, trial_plots=a["trial_plots"], live=False)
seconds = time.perf_counter() - start
done = [t for t in st.trials if t.state.name == "COMPLETE"]
print(json.dumps({"seconds": seconds, "complete": len(done),
                  "threads": sorted({t.user_attrs["worker"]["blas_threads"] for t in done}),
                  "workers": len({t.user_attrs["worker"]["index"] for t in done}),
                  "mean_trial_s": sum(t.duration.total_seconds() for t in done) / max(1, len(done))}))
"""


def run_study(jobs: int, args: argparse.Namespace, out: str) -> dict:
    """Run one study in a fresh interpreter; its wall time (process start to exit) and per-trial figures."""
    spec = {"jobs": jobs, "trials": args.trials, "epochs": args.epochs, "hidden": args.hidden, "out": out,
            "trial_plots": args.trial_plots}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"--jobs {jobs} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["complete"] != args.trials:
        raise SystemExit(f"--jobs {jobs}: {result['complete']} of {args.trials} trials completed")
    return {**result, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=lambda s: [int(v) for v in s.split(",")], default=[256, 128])
    parser.add_argument("--trial-plots", action="store_true", help="also render each trial's PNGs")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        r1 = run_study(1, args, out)
        r2 = run_study(2, args, out)
    load_after = os.getloadavg()
    print(f"nnlab tune digits-mlp {args.hidden}, {args.trials} trials x {args.epochs} epochs, "
          f"{os.cpu_count()} CPUs, trial plots {'on' if args.trial_plots else 'off'}")
    for jobs, r in ((1, r1), (2, r2)):
        print(f"  --jobs {jobs}: {r['wall']:7.2f} s wall ({r['seconds']:.2f} s in tune), mean trial "
              f"{r['mean_trial_s']:.2f} s, trials run by {r['workers']} worker(s) with BLAS threads {r['threads']}")
    print(f"  ratio jobs2/jobs1: {r2['wall'] / r1['wall']:.3f} (goal <= 0.65)")
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
