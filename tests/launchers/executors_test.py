"""LocalExecutor on real subprocesses; SlurmExecutor on a real single-node Slurm.

The Slurm tests use the session fixture `slurm_cluster` (slurm_cluster.py):
skipped without Slurm installed, failed instead when CI is set.
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from launchers import executors

_PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

# Records its start time, waits until `quorum` jobs have started (so that many
# surely overlap, whatever the machine's load), then its end time; prints both.
_OVERLAP_JOB = """
import json, os, sys, time
name, marks, quorum = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.time()
open(os.path.join(marks, name), "w").close()
deadline = time.time() + 30
while len(os.listdir(marks)) < quorum and time.time() < deadline:
    time.sleep(0.02)
time.sleep(0.2)
print(json.dumps({"name": name, "start": start, "end": time.time()}))
print(f"stderr of {name}", file=sys.stderr)
"""

# Starts a grandchild `sleep`, writes both PIDs, then sleeps; with "stubborn"
# it only notes a SIGTERM (in <pid_file>.sigterm), so only SIGKILL stops it.
_SLEEPING_JOB = """
import os, signal, subprocess, sys, time
pid_file, mode = sys.argv[1], sys.argv[2]
if mode == "stubborn":
    signal.signal(signal.SIGTERM, lambda *_: open(pid_file + ".sigterm", "w").close())
grandchild = subprocess.Popen(["sleep", "120"])
with open(pid_file + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.rename(pid_file + ".tmp", pid_file)
time.sleep(120)
"""

# Writes its PID and its Slurm job id ("<array id>_<task>", or the plain id
# of a one-job array, which submitit submits as a plain job), then sleeps.
_SLURM_SLEEPING_JOB = """
echo "$$" > "$1.pid"
id=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID}
echo "${id:-$SLURM_JOB_ID}" > "$1.tmp" && mv "$1.tmp" "$1"
exec sleep 120
"""


def _python_job(name, log_dir, code, *args):
    return executors.Job(
        name=name,
        argv=[sys.executable, "-c", code, *map(str, args)],
        log_path=str(log_dir / "logs" / f"{name}.log"),
    )


def _shell_job(name, log_dir, script, *args):
    return executors.Job(
        name=name,
        argv=["/bin/sh", "-c", script, name, *map(str, args)],
        log_path=str(log_dir / "logs" / f"{name}.log"),
    )


def _max_overlap(intervals):
    """Most intervals (start, end) holding at one instant."""
    events = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def _alive(pid):
    """Whether a process runs (a zombie nobody reaped counts as stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for_files(paths, process=None, timeout_s=60):
    """Waits until every path exists; fails early if `process` ends first."""
    deadline = time.monotonic() + timeout_s
    while not all(os.path.exists(path) for path in paths):
        if process is not None and process.poll() is not None:
            pytest.fail(f"exited {process.returncode}: {process.stderr.read()}")
        assert time.monotonic() < deadline, f"never written: {paths}"
        time.sleep(0.1)


def _wait_until_stopped(pids, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_local_runs_at_most_max_parallel_jobs_at_once(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    jobs = [
        _python_job(
            f"point-{i:03d}", tmp_path, _OVERLAP_JOB, f"point-{i:03d}", marks, 2
        )
        for i in range(5)
    ]

    results = executors.LocalExecutor(max_parallel=2).run(jobs)

    assert [r.name for r in results] == [job.name for job in jobs]
    assert all(r.state == executors.COMPLETED and r.returncode == 0 for r in results)
    intervals = []
    for job, result in zip(jobs, results):
        assert result.log_path == job.log_path
        lines = open(job.log_path).read().splitlines()
        assert f"stderr of {job.name}" in lines
        record = json.loads(lines[0])
        assert record["name"] == job.name
        intervals.append((record["start"], record["end"]))
    assert _max_overlap(intervals) == 2


def test_local_reports_failures_with_returncode_and_log(tmp_path):
    fails = "import sys; print('about to fail', file=sys.stderr); sys.exit(3)"
    jobs = [
        _python_job("ok", tmp_path, "print('fine')"),
        _python_job("fails", tmp_path, fails),
        executors.Job(
            "missing", ["/nonexistent/command"], str(tmp_path / "m" / "m.log")
        ),
    ]

    ok, failed, missing = executors.LocalExecutor(max_parallel=3).run(jobs)

    assert (ok.returncode, ok.state) == (0, executors.COMPLETED)
    assert open(ok.log_path).read() == "fine\n"
    assert (failed.returncode, failed.state) == (3, executors.FAILED)
    assert failed.log_path == jobs[1].log_path
    assert "about to fail" in open(failed.log_path).read()
    assert (missing.returncode, missing.state) == (None, executors.FAILED)
    assert "cannot start" in open(missing.log_path).read()


# Sent by the driver itself from inside Popen.poll(), while it holds the
# Popen's waitpid lock, as CPython's poll() does between its `acquire` and its
# `try`: a KeyboardInterrupt raised there would leave the lock held, and the
# executor's later wait() for that child would block forever.
_INTERRUPT_INSIDE_POLL = """
import os, signal, subprocess
real_poll = subprocess.Popen.poll
def poll_interrupted_holding_the_lock(self):
    if all(os.path.exists(path) for path in PID_FILES):
        subprocess.Popen.poll = real_poll
        self._waitpid_lock.acquire(False)
        os.kill(os.getpid(), signal.SIGINT)
        self._waitpid_lock.release()
    return real_poll(self)
subprocess.Popen.poll = poll_interrupted_holding_the_lock
"""


def _start_interruptible_sweep(tmp_path, pid_files, modes, grace_s, extra=""):
    """Starts a driver running LocalExecutor over sleeping jobs, plus one more
    job that waits for a free slot and must never start."""
    jobs = [
        _python_job(f"job-{i}", tmp_path, _SLEEPING_JOB, pid_file, mode)
        for i, (pid_file, mode) in enumerate(zip(pid_files, modes))
    ]
    jobs.append(_python_job("never", tmp_path, "open('never-started', 'w')"))
    driver = "\n".join(
        [
            "import signal",
            "from launchers import executors",
            "from launchers.executors import Job",
            f"PID_FILES = {[str(path) for path in pid_files]!r}",
            # A test run in the background may inherit SIGINT ignored.
            "signal.signal(signal.SIGINT, signal.default_int_handler)",
            extra,
            f"executors.LocalExecutor(max_parallel={len(modes)}, "
            f"kill_grace_s={grace_s}).run({jobs!r})",
        ]
    )
    process = subprocess.Popen(
        [sys.executable, "-c", driver],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=_PROJECT_ROOT),
        stderr=subprocess.PIPE,
        text=True,
    )
    return jobs, process


@pytest.mark.parametrize("when", ["between polls", "inside Popen.poll"])
def test_local_ctrl_c_stops_every_job_and_reraises(tmp_path, when):
    pid_files = [tmp_path / f"job-{i}.pids" for i in range(3)]
    jobs, process = _start_interruptible_sweep(
        tmp_path,
        pid_files,
        ["plain", "stubborn", "plain"],
        grace_s=1,
        extra=_INTERRUPT_INSIDE_POLL if when == "inside Popen.poll" else "",
    )
    try:
        _wait_for_files(pid_files, process)
        pids = [int(pid) for path in pid_files for pid in path.read_text().split()]
        if when == "between polls":
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == -signal.SIGINT, stderr
    assert "KeyboardInterrupt" in stderr
    assert _wait_until_stopped(pids) == []
    assert not (tmp_path / "never-started").exists()
    for job in jobs[:3]:
        assert "stopped by the executor: KeyboardInterrupt" in open(job.log_path).read()


def test_local_second_ctrl_c_kills_at_once(tmp_path):
    # The stubborn job ignores SIGTERM: only the second Ctrl-C can end the
    # 10-minute grace period before the communicate() below times out.
    pid_files = [tmp_path / "job-0.pids"]
    jobs, process = _start_interruptible_sweep(
        tmp_path, pid_files, ["stubborn"], grace_s=600
    )
    try:
        _wait_for_files(pid_files, process)
        pids = [int(pid) for pid in pid_files[0].read_text().split()]
        process.send_signal(signal.SIGINT)
        _wait_for_files([f"{pid_files[0]}.sigterm"], process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == -signal.SIGINT, stderr
    assert _wait_until_stopped(pids) == []
    assert "stopped by the executor: KeyboardInterrupt" in open(jobs[0].log_path).read()


def test_slurm_needs_srun_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    executor = executors.SlurmExecutor(folder=str(tmp_path / "slurm"))

    with pytest.raises(executors.SlurmUnavailableError, match="'srun' is not on PATH"):
        executor.run([_shell_job("a", tmp_path, "true")])


def _slurm_executor(tmp_path, partition):
    return executors.SlurmExecutor(
        folder=str(tmp_path / "slurm"),
        partition=partition,
        timeout_min=10,
        cpus_per_task=1,
        mem_gb=0.5,
        poll_interval_s=0.5,
    )


@pytest.mark.slurm
def test_slurm_names_a_missing_partition(slurm_cluster, tmp_path):
    executor = _slurm_executor(tmp_path, "no-such-partition")

    with pytest.raises(executors.SlurmUnavailableError, match="'no-such-partition'"):
        executor.run([_shell_job("a", tmp_path, "true")])


@pytest.mark.slurm
def test_slurm_runs_jobs_as_one_array(slurm_cluster, tmp_path):
    script = (
        'echo "$0 $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID"; echo "stderr of $0" >&2'
    )
    jobs = [_shell_job(f"point-{i:03d}", tmp_path, script) for i in range(3)]

    results = _slurm_executor(tmp_path, slurm_cluster.partition).run(jobs)

    assert [(r.name, r.returncode, r.state) for r in results] == [
        (job.name, 0, executors.COMPLETED) for job in jobs
    ], slurm_cluster.logs()
    tasks = []
    for job, result in zip(jobs, results):
        assert result.log_path == job.log_path
        out, err = open(job.log_path).read().splitlines()
        name, array_id, task_id = out.split()
        assert (name, err) == (job.name, f"stderr of {job.name}")
        tasks.append((array_id, int(task_id)))
    assert tasks == [(tasks[0][0], i) for i in range(3)]


@pytest.mark.slurm
def test_slurm_reports_a_failing_job(slurm_cluster, tmp_path):
    jobs = [
        _shell_job("ok", tmp_path, "echo fine"),
        _shell_job("fails", tmp_path, "echo about to fail >&2; exit 3"),
    ]

    ok, failed = _slurm_executor(tmp_path, slurm_cluster.partition).run(jobs)

    assert (ok.returncode, ok.state) == (0, executors.COMPLETED)
    assert (failed.returncode, failed.state) == (3, executors.FAILED)
    assert failed.log_path == jobs[1].log_path
    assert open(failed.log_path).read() == "about to fail\n"


@pytest.mark.slurm
def test_slurm_reports_a_cancelled_job(slurm_cluster, tmp_path):
    started = tmp_path / "started"
    jobs = [
        _shell_job("quick", tmp_path, "echo fine"),
        _shell_job("cancelled", tmp_path, _SLURM_SLEEPING_JOB, started),
    ]
    executor = _slurm_executor(tmp_path, slurm_cluster.partition)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(executor.run, jobs)
        _wait_for_files([started])
        task_id = started.read_text().strip()
        subprocess.run(["scancel", task_id], check=True)
        quick, cancelled = future.result(timeout=120)

    assert (quick.returncode, quick.state) == (0, executors.COMPLETED)
    assert (cancelled.returncode, cancelled.state) == (None, executors.CANCELLED)
    assert cancelled.log_path == jobs[1].log_path
    pid = int((tmp_path / "started.pid").read_text())
    assert _wait_until_stopped([pid]) == []


@pytest.mark.slurm
def test_slurm_ctrl_c_cancels_the_array(slurm_cluster, tmp_path):
    started = tmp_path / "started"
    job = _shell_job("sleeps", tmp_path, _SLURM_SLEEPING_JOB, started)
    driver = textwrap.dedent(
        f"""
        import signal
        from launchers import executors
        from launchers.executors import Job
        signal.signal(signal.SIGINT, signal.default_int_handler)
        executors.SlurmExecutor(
            folder={str(tmp_path / "slurm")!r}, partition={slurm_cluster.partition!r},
            timeout_min=10, mem_gb=0.5, poll_interval_s=0.5,
        ).run([{job!r}])
        """
    )
    env = dict(os.environ, PYTHONPATH=_PROJECT_ROOT)
    process = subprocess.Popen(
        [sys.executable, "-c", driver], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_files([started], process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == -signal.SIGINT, stderr
    task_id = started.read_text().strip()
    # The executor returns only once squeue no longer lists the cancelled task.
    listed = subprocess.run(
        ["squeue", "--noheader", f"--jobs={task_id}"], capture_output=True, text=True
    )
    assert listed.stdout.strip() == ""
    pid = int((tmp_path / "started.pid").read_text())
    assert _wait_until_stopped([pid]) == []
    # sacct may lag a moment behind the cancel.
    state = ""
    deadline = time.monotonic() + 30
    while not state.startswith(executors.CANCELLED) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "State", "-j", task_id],
            capture_output=True,
            text=True,
        ).stdout.strip()
    assert state.startswith(executors.CANCELLED), (task_id, state)
