"""make_run_dir under a race: 8 processes released together by a barrier, 20 rounds, no error and no collision."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import traceback

from nnlab.io import make_run_dir

N_PROCS, N_ROUNDS = 8, 20


def _worker(root: str, barrier, queue, rounds: int) -> None:
    """Each round: wait for every process, create a run folder, claim it with a marker file named after us."""
    made, error = [], None
    try:
        for r in range(rounds):
            barrier.wait(timeout=120)
            path = make_run_dir(root, "race")
            (path / f"owner-{os.getpid()}-{r}").touch()
            made.append(str(path))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test with it
        error = traceback.format_exc()
        barrier.abort()
    queue.put((os.getpid(), made, error))


def test_eight_processes_released_together_never_collide_or_raise(tmp_path):
    root = tmp_path / "runs"  # does not exist yet: the processes also race to create it
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(N_PROCS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(root), barrier, queue, N_ROUNDS)) for _ in range(N_PROCS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [err for _, _, err in results if err]
    assert not errors, errors[0]
    made = [path for _, paths, _ in results for path in paths]
    assert len(made) == N_PROCS * N_ROUNDS
    assert len(set(made)) == len(made)  # no two processes were handed the same folder
    folders = sorted(root.iterdir())
    assert len(folders) == N_PROCS * N_ROUNDS and {str(f) for f in folders} == set(made)
    for folder in folders:  # each folder was created, and claimed, exactly once
        assert re.fullmatch(r"race-\d{8}-\d{6}(-\d+)?", folder.name), folder.name
        assert len(list(folder.iterdir())) == 1, sorted(p.name for p in folder.iterdir())
    owners = {pid for pid, _, _ in results}
    assert len(owners) == N_PROCS
    assert sum(1 for f in folders if re.fullmatch(r"race-\d{8}-\d{6}", f.name)) >= 1

