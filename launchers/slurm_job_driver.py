"""Runs inside a job submitted by launchers/slurm_job.py: starts and watches its steps.

    python -m launchers.slurm_job_driver <run_dir>/slurm/job.json

It is the job's batch script (exec'd by it), so it runs on the server's node.
In order:

  1. reads the server's node from Slurm (SLURM_JOB_NODELIST_HET_GROUP_0,
     expanded by `scontrol show hostnames`) and picks each port given as 0
     (free on this node right now, so on the server's node);
  2. starts the server step (`srun --het-group=0 --exact ...`), waits until
     it accepts TCP connections on its first port (or up to
     server_ready_timeout_s), then starts one step per collector and the
     trainer step; every command has its placeholders replaced and every
     step gets SMART_CONTROL_* variables (launchers/slurm_job.py);
  3. watches the steps:
       * the trainer exits 0: the run is done; collectors are stopped, then
         the server (so its final checkpoint holds everything), exit 0;
       * a step exits unasked: restarted after its backoff (at most
         max_restarts times per job run), else a collector is dropped (the
         run goes on with one collector fewer) and a server or trainer fails
         the run: the rest is stopped in order, exit 1;
       * SIGUSR1 (Slurm's `--signal=B:USR1@...` before the time limit; at
         preemption too if the cluster sets SlurmctldParameters=
         preempt_send_user_signal; or `scancel --batch --signal=USR1` by
         hand): every step is stopped in order, collectors, trainer, server,
         each with SIGTERM so the trainer and the server checkpoint, then the
         job requeues itself (`scontrol requeue`) unless it already did
         max_requeues times; after the requeue this script runs again from
         the start and every role resumes from its own checkpoints;
       * SIGUSR2 (`scancel --batch --signal=USR2`, launchers/slurm_job.stop):
         the same ordered stop, then the job cancels itself (CANCELLED, and
         resumable by submitting again);
       * SIGTERM (Slurm ends the job: `scancel`, or preemption with a
         GraceTime): the same ordered stop as far as time allows (every step
         got SIGTERM from Slurm too), exit 143; whether the job is requeued
         is Slurm's decision, not the driver's.

Stopping a step: `scancel --signal=TERM <step>` (its id found by name with
`squeue --steps`): SIGTERM to srun itself would make srun SIGKILL the tasks.
After the role's stop timeout the step is cancelled (SIGKILL after KillWait).

Its messages go to stdout, i.e. <run_dir>/logs/driver.log; each step's
output to <run_dir>/logs/<step>.log (srun --output, appended), where a line
"[driver] ..." marks every start. How a step is started, found and stopped is
launchers/slurm_steps.py; this module decides when.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from typing import Optional

from launchers import process_utils, slurm_steps

# Seconds between two checks of the steps.
_POLL_INTERVAL_S = 0.2
# Seconds between two connection attempts while waiting for the server.
_READY_POLL_S = 0.5
# Exit codes of the driver (the batch step).
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_NOT_REQUEUED = 3

# Replaces a command's placeholders (tests use it from here).
_substitute = slurm_steps.substitute


def main(argv: list[str]) -> int:
    """Runs the job described by argv[1] (job.json); returns the exit code."""
    if len(argv) != 2:
        print(f"usage: {argv[0]} <run_dir>/slurm/job.json", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    return Driver(spec).run()


class Driver:
    """Starts the steps of one job run, restarts them, stops them in order."""

    def __init__(self, spec: dict):
        """Initializes the driver; nothing starts yet.

        Args:
          spec: The content of job.json (launchers/slurm_job.submit).
        """
        self.spec = spec
        self.job_id = os.environ.get("SLURM_JOB_ID", "")
        self.requeues = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        self.steps: list[slurm_steps.Step] = []
        for role in spec["roles"]:
            self.steps += [
                slurm_steps.Step(role, task) for task in range(role["count"])
            ]
        self.server = self._steps_of("server")[0]
        self.trainer = self._steps_of("trainer")[0]
        self.signal_received: Optional[int] = None
        self.done = False
        self.values: dict[str, str] = {}

    def _steps_of(self, role: str) -> list[slurm_steps.Step]:
        return [step for step in self.steps if step.role["name"] == role]

    def run(self) -> int:
        """Runs the job's steps until the run ends, fails or is signalled.

        Returns:
          EXIT_DONE when the trainer finished (or after requeueing the job),
          EXIT_NOT_REQUEUED when SIGUSR1 came after max_requeues requeues,
          128 + the signal after SIGTERM or SIGUSR2, EXIT_FAILED otherwise.
        """
        for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        server_host = slurm_steps.server_host()
        ports = {
            name: port or process_utils.free_port()
            for name, port in self.spec["ports"].items()
        }
        self.values = {
            "server_host": server_host,
            "run_dir": self.spec["run_dir"],
            **{f"{name}_port": str(port) for name, port in ports.items()},
        }
        batch_node = os.environ.get("SLURMD_NODENAME", server_host)
        if batch_node != server_host:
            # Free ports were picked here, not where the server will listen.
            slurm_steps.log(f"warning: driver on {batch_node}, server on {server_host}")
        slurm_steps.log(
            f"job {self.job_id} run {self.requeues + 1} (requeues so far: "
            f"{self.requeues}) on {socket.gethostname()}; server on {server_host}, "
            f"ports {ports}"
        )
        self._start(self.server)
        if ports and not self._wait_for_server(server_host, next(iter(ports.values()))):
            return self._finish()
        for step in self.steps:
            if step is not self.server and self.signal_received is None:
                self._start(step)
        return self._watch()

    def _on_signal(self, signum, frame) -> None:
        del frame
        # The first signal decides (a requeue or a stop); handled by the loop.
        if self.signal_received is None:
            self.signal_received = signum

    def _wait_for_server(self, host: str, port: int) -> bool:
        """Waits until the server accepts connections; False if the run must end."""
        deadline = time.monotonic() + self.spec["server_ready_timeout_s"]
        while self.signal_received is None:
            if time.monotonic() > deadline:
                slurm_steps.log(
                    f"server not accepting connections on {host}:{port} after "
                    f"{self.spec['server_ready_timeout_s']} s; starting the others"
                )
                return True
            if self.server.restart_at is not None:
                if time.monotonic() >= self.server.restart_at:
                    self._start(self.server)
            elif self.server.process.poll() is not None:
                if not self._on_exit(self.server):
                    return False
                continue
            else:
                try:
                    with socket.create_connection((host, port), timeout=1.0):
                        slurm_steps.log(f"server accepts connections on {host}:{port}")
                        return True
                except OSError:
                    pass
            time.sleep(_READY_POLL_S)
        return False

    def _watch(self) -> int:
        while self.signal_received is None:
            for step in self.steps:
                if step.restart_at is not None:
                    if time.monotonic() >= step.restart_at:
                        self._start(step)
                elif step.process is not None and step.process.poll() is not None:
                    if not self._on_exit(step):
                        return self._finish()
            time.sleep(_POLL_INTERVAL_S)
        return self._finish()

    def _on_exit(self, step: slurm_steps.Step) -> bool:
        """Handles a step that exited unasked; False if the run must end."""
        code = step.process.returncode
        step.process = None
        slurm_steps.log(f"{step.name} exited with {code}")
        if step is self.trainer and code == 0:
            slurm_steps.log(
                "trainer finished: stopping the collectors, then the server"
            )
            self.done = True
            return False
        policy = step.policy
        if policy["restart"] and step.restarts < policy["max_restarts"]:
            step.restarts += 1
            step.restart_at = time.monotonic() + policy["backoff_s"]
            slurm_steps.log(
                f"restarting {step.name} in {policy['backoff_s']} s (restart "
                f"{step.restarts} of {policy['max_restarts']})"
            )
            return True
        if step.role["name"] == "collector":
            step.dropped = True
            left = sum(1 for s in self._steps_of("collector") if not s.dropped)
            total = step.role["count"]
            if left:
                slurm_steps.log(
                    f"{step.name} not restarted: continuing with {left} of "
                    f"{total} collectors"
                )
                return True
            slurm_steps.log(
                f"{step.name} not restarted and no collector left: the run fails"
            )
            return False
        slurm_steps.log(f"{step.name} not restarted: the run fails")
        return False

    def _finish(self) -> int:
        """Stops every step in order; requeues or cancels the job if signalled."""
        signum = self.signal_received
        if signum is not None:
            slurm_steps.log(
                f"got {signal.Signals(signum).name}: stopping every step in order"
            )
        self._stop_all()
        if signum == signal.SIGUSR1:
            if self.requeues >= self.spec["max_requeues"]:
                slurm_steps.log(
                    f"not requeueing: already requeued {self.requeues} times"
                )
                return EXIT_NOT_REQUEUED
            slurm_steps.log(f"requeueing job {self.job_id}")
            done = slurm_steps.slurm(["scontrol", "requeue", self.job_id])
            if done.returncode != 0:
                slurm_steps.log(f"scontrol requeue failed: {done.stderr.strip()}")
                return EXIT_FAILED
            return EXIT_DONE
        if signum == signal.SIGUSR2:
            slurm_steps.log(f"cancelling job {self.job_id}: submit again to resume")
            slurm_steps.slurm(["scancel", self.job_id])
            return 128 + signum
        if signum is not None:
            return 128 + signum
        if self.done:
            slurm_steps.log("run complete")
            return EXIT_DONE
        return EXIT_FAILED

    def _start(self, step: slurm_steps.Step) -> None:
        slurm_steps.start(
            step, self.values, self.spec["logs_dir"], self.job_id, self.requeues + 1
        )

    def _stop_all(self) -> None:
        """Stops collectors, then the trainer, then the server, each group at once."""
        for group in (self._steps_of("collector"), [self.trainer], [self.server]):
            for step in group:
                step.restart_at = None
            running = [step for step in group if step.running]
            if running:
                self._stop(running)

    def _stop(self, steps: list[slurm_steps.Step]) -> None:
        slurm_steps.stop(steps, self.job_id)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
