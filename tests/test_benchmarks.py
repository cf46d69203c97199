"""Every benchmark runs to its end, in its smallest form.

No figure is checked (timings live in benchmarks/, never in tests): only that each
script still works with today's code, which nothing else runs between two measuring
rounds. A stop found six of them broken at once -- the first step of `make bench`
among them -- each by a change elsewhere (a moved helper, a new installer step, how a
failed row is noted). Each script runs as `make bench` or its README line runs it,
with the fewest nodes, rows and repetitions its options allow, on a throwaway cluster
of its own, in a copy of this repository (git history included: several compare with
an earlier revision), so that the tables and plots it writes land in the copy. Where
a script compares with the code of an earlier tree (--before DIR), that tree is the
copy itself; the scripts that extract an earlier revision themselves (views_reads.py,
add_schema.py, reads.py --traversals-against and --fold-only, health_cost.py) install
it by its own install.py, as common.install_tree installs any tree but this one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.local_only(reason="each benchmark starts a throwaway cluster of its own (tools/pgcluster.py)")

TIMEOUT = 300  # seconds a script may take here (the slowest takes some 30 on an idle machine)
TINY = ["--nodes", "2000", "--edges", "10000"]

# script -> the arguments of each run; {copy} is the repository's copy.
RUNS = {
    "run.py": [["--quick", "--reps", "1", "--replay-reps", "1"]],
    "capture.py": [["--quick", "--reps", "1"]],
    "capture_instructions.py": [["-n", "5", "--before", "{copy}"]],
    "read_instructions.py": [[*TINY, "-n", "2", "--warm", "1", "--depths", "2", "--unprepared"],
                             [*TINY, "-n", "2", "--warm", "1", "--depths", "2", "--reader"]],
    "replay.py": [["--rows", "20000", "--reps", "1", "--per-batch", "--profile"]],
    "reads.py": [["--quick", "--repeat", "1", *TINY],
                 ["--quick", "--repeat", "1", *TINY, "--traversals-against", "HEAD"],
                 ["--quick", *TINY, "--fold-only", "HEAD", "--reps", "1"]],
    "reads_under_writes.py": [["--quick", "--duration", "0.5", *TINY]],
    "read_tail.py": [["--duration", "2", *TINY]],
    "rebuild.py": [["--quick", "--reps", "1"]],
    "memory.py": [["--quick", "--backends", "1,2", "--reps", "1", "--first-reads", "1", *TINY]],
    "sizes.py": [["--edges", "10000", "--first-reads", "1", "--repeat", "1", "--peer-reps", "1", "--backends", "1"]],
    "rls_reads.py": [["--quick", "--reps", "1", *TINY]],
    "views_reads.py": [["--quick", "--reps", "1"]],
    "reach.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"]],
    "label_reach.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"]],
    "tenant_reads.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"]],
    "label_names.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"],
                       ["--before", "{copy}", "--nodes", "1000", "--reps", "1", "--indexed"]],
    "row_visible_caller.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"]],
    "policy_calls.py": [["--before", "{copy}", "--nodes", "1000", "--reps", "1"]],
    "replay_ends.py": [["--before", "{copy}", *TINY, "--rows", "200", "--warm", "1", "--reps", "1"],
                       ["--before", "{copy}", *TINY, "--rows", "200", "--warm", "1", "--reps", "1",
                        "--uuid", "--read"]],
    "replay_unanalyzed.py": [["--before", "{copy}", "--rows", "20000", "--reps", "1"]],
    "upkeep_calls.py": [["--before", "{copy}", "--nodes", "1000", "--edges", "5000", "--log-rows", "2000",
                         "--calls", "1", "--reps", "1"]],
    "failed_rows.py": [["--before", "{copy}", "--rows", "100", "--reps", "1"]],
    "idle_apply.py": [["--before", "{copy}", *TINY, "--retained", "10000", "--reps", "1"]],
    "first_numpy_read.py": [["--before", "{copy}", "--edges", "10000", "--reps", "1"]],
    "replica_capture.py": [["--n", "100", "--rows", "1000", "--reps", "1"]],
    "xid_index.py": [["--reps", "1", "--statements", "200"]],
    "health_cost.py": [["--before", "HEAD", "--sizes", "200:1000", "--calls", "5", "--reps", "1"]],
    "health_visibility.py": [["--nodes", "200", "--edges", "1000", "--calls", "10", "--reps", "1"]],
    "errors.py": [[*TINY, "--calls", "20", "--reps", "1"]],
    "error_message.py": [[*TINY, "--calls", "20", "--reps", "1"]],
    "add_schema.py": [["--reps", "1"], ["--tables", "3", "--registered", "3", "--baseline", "HEAD", "--reps", "1"]],
    "build_schema.py": [["--reps", "1"]],
    "partition_ddl.py": [["--partitions", "3", "--reps", "1"]],
    "refreshing_reads.py": [["--before", "{copy}", *TINY, "--reads", "5", "--reps", "1"]],
}
LIBRARIES = {"common.py"}  # imported by the scripts, run by none


def test_every_benchmark_script_is_run_here():
    """A new benchmark gets its smallest run in RUNS, or the suite says so."""
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - LIBRARIES == set(RUNS), "benchmarks/*.py and RUNS differ"
    for name in LIBRARIES:
        assert "__main__" not in (ROOT / "benchmarks" / name).read_text()


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """This repository's working tree, history included, without the venv and caches."""
    into = tmp_path_factory.mktemp("bench") / "graphsync"
    shutil.copytree(ROOT, into, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", "__pycache__", ".pytest_cache", ".ruff_cache"))
    return into


@pytest.mark.parametrize(("script", "run"), [(s, i) for s, runs in RUNS.items() for i in range(len(runs))],
                         ids=lambda v: str(v))
def test_benchmark_runs_to_its_end(copy, script, run):
    if script in ("capture_instructions.py", "read_instructions.py") and shutil.which("valgrind") is None:
        pytest.fail("valgrind is missing (make setup installs it)")
    args = [a.replace("{copy}", str(copy)) for a in RUNS[script][run]]
    env = {k: v for k, v in os.environ.items() if k != "GRAPHSYNC_DSN"}  # a cluster of its own
    # cwd "/": the cluster's commands run as postgres, who may not enter pytest's directories
    proc = subprocess.Popen([sys.executable, str(copy / "benchmarks" / script), *args], cwd="/", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # the script's own cleanup stops its cluster
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"{script} {' '.join(args)} ran past {TIMEOUT} s:\n{out[-4000:]}")
    assert proc.returncode == 0, f"{script} {' '.join(args)} exited {proc.returncode}:\n{out[-4000:]}"
