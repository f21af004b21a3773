"""Runs the performance suite and writes bench/results/latest.{json,md}.

    python -m bench.run_all                      # the default suite (make bench)
    python -m bench.run_all --full               # + the heavy variants, sweep, learning
    python -m bench.run_all --only insert --only sample
    python -m bench.run_all --quick              # tiny sizes, 1 repetition
    python -m bench.run_all --profile populate   # + cProfile of that group

Every benchmark module returns rows {"group", "name", "unit", "values",
"baseline"}; this runner adds the median, min and max of the values, the
ratio of the median to the median of the baseline row (same group), and the
verdict of the row's target (TARGETS below). Figures are only comparable
within one run: the machines are shared and noisy, so every ratio is
between rows measured side by side.

A module's `run` may take `quick` and `full` keyword arguments (passed when
it declares them). A module with `DEFAULT = False` runs only with `--full`
or when named by `--only`; one with `QUICK = False` is skipped by `--quick`.

TensorFlow's and Reverb's C++ logging goes to <out>/logs/native.log.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from bench import common

# Group key -> module. A module whose file is missing is skipped (noted).
MODULES = {
    "environment": "bench.bench_environment",
    "insert": "bench.bench_insert",
    "sample": "bench.bench_sample",
    "populate": "bench.bench_populate",
    "checkpoint": "bench.bench_checkpoint",
    "train": "bench.bench_train",
    "sweep": "bench.bench_sweep",
    "collect": "bench.bench_collect",
    "learning": "bench.bench_learning",
}
DEFAULT_OUT = os.path.join(common.REPO_ROOT, "bench", "results")


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal for the rows whose group and name match the patterns (fnmatch).

    `on` is "ratio" (median / baseline median) or "value" (the median).
    """

    group: str
    name: str
    on: str
    op: str  # ">=" or "<="
    bound: float
    aim: Optional[float] = None

    def describe(self) -> str:
        unit = "x" if self.on == "ratio" else ""
        text = f"{self.op} {_fmt(self.bound)}{unit}"
        if self.aim is not None:
            text += f" (aim {self.op} {_fmt(self.aim)}{unit})"
        return text

    def verdict(self, median: float, ratio: Optional[float]) -> str:
        x = ratio if self.on == "ratio" else median
        if x is None:
            return "n/a"

        def holds(bound):
            return x >= bound if self.op == ">=" else x <= bound

        if not holds(self.bound):
            return "NOT MET"
        if self.aim is not None and not holds(self.aim):
            return "met, aim missed"
        return "met"


TARGETS = [
    Target("insert", "ReplayBufferManager observer*", "ratio", ">=", 1.0, aim=1.3),
    Target("sample *", "ReplayBufferManager.get_dataset*", "ratio", ">=", 1.0, 1.3),
    Target("environment", "building env.step", "value", ">=", 20_000),
    Target("populate", "guide populate command*", "value", "<=", 15.0),
    Target("checkpoint *", "on disk*", "ratio", "<=", 1.5),
    Target("train", "train loop*", "ratio", ">=", 0.9),
    # Env steps of training until the greedy policy beats the schedule
    # (bench_learning.py), median over 3 seeds.
    Target("learning", "env steps * plain SAC", "value", "<=", 25_000),
    Target("learning", "env steps * residual SAC", "value", "<=", 25_000, 10_000),
]


def _fmt(x: Optional[float]) -> str:
    if x is None:
        return ""
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _target_for(row: dict) -> Optional[Target]:
    for target in TARGETS:
        if fnmatch.fnmatchcase(row["group"], target.group) and fnmatch.fnmatchcase(
            row["name"].strip(), target.name
        ):
            return target
    return None


def summarize(rows: List[dict]) -> List[dict]:
    """Rows with median, min, max, ratio (to the baseline row), target, verdict."""
    medians = {}
    out = []
    for row in rows:
        values = row["values"]
        summary = dict(row)
        summary["median"] = statistics.median(values) if values else None
        summary["min"] = min(values) if values else None
        summary["max"] = max(values) if values else None
        summary["repetitions"] = len(values)
        medians[(row["group"], row["name"])] = summary["median"]
        out.append(summary)
    for summary in out:
        base = summary.get("baseline")
        ratio = None
        if base is not None:
            base_median = medians.get((summary["group"], base))
            if base_median:
                ratio = summary["median"] / base_median
        summary["ratio"] = ratio
        target = _target_for(summary)
        summary["target"] = target.describe() if target else None
        summary["verdict"] = (
            target.verdict(summary["median"], ratio) if target else None
        )
    return out


def markdown(rows: List[dict], meta: Dict[str, Any]) -> str:
    lines = [
        f"Run {meta['started']} on {meta['host']['cpus']} CPUs "
        f"(load average at start {meta['host']['load_start']}), "
        f"`{meta['command']}`, {meta['wall_s']:.0f} s wall, "
        f"{meta['repetitions']} repetition(s); commit {meta.get('commit') or '?'}.",
        "",
        "Median of the repetitions, min–max, and × baseline = median / the "
        "baseline row's median (same group, same run).",
    ]
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            lines += [
                "",
                f"**{group}**",
                "",
                "| row | median | min–max | unit | × baseline | target | verdict |",
                "|---|---:|---:|---|---:|---|---|",
            ]
        base = "baseline" if _is_baseline(r, rows) else ""
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else base
        span = f"{_fmt(r['min'])}–{_fmt(r['max'])}" if r["repetitions"] > 1 else ""
        name = r["name"].replace("|", "/")
        indent = len(name) - len(name.lstrip(" "))
        name = "&nbsp;" * indent + name.lstrip(" ")
        lines.append(
            f"| {name} | {_fmt(r['median'])} | {span} | {r['unit']} | {ratio} "
            f"| {r['target'] or ''} | {r['verdict'] or ''} |"
        )
    if meta.get("errors"):
        lines += ["", "Errors:"]
        for name, error in meta["errors"].items():
            lines.append(f"- {name}: {error.strip().splitlines()[-1]}")
    if meta.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(meta["skipped"])]
    return "\n".join(lines) + "\n"


def _is_baseline(row: dict, rows: List[dict]) -> bool:
    return any(
        r["group"] == row["group"] and r.get("baseline") == row["name"] for r in rows
    )


def _call_run(run: Callable, repetitions: int, quick: bool, full: bool) -> List[dict]:
    parameters = inspect.signature(run).parameters
    kwargs: Dict[str, Any] = {}
    if "quick" in parameters:
        kwargs["quick"] = quick
    elif quick and "iterations" in parameters:
        kwargs["iterations"] = 20
    if "full" in parameters:
        kwargs["full"] = full
    return run(repetitions, **kwargs)


def _versions() -> Dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("dm-reverb", "tf-agents", "tensorflow-cpu", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=common.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=common.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument(
        "--full",
        action="store_true",
        help="also the heavy variants (500k-item checkpoints, train quality) "
        "and the groups left out by default (sweep, learning)",
    )
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=sorted(MODULES),
        help="run only this group (repeatable)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=sorted(MODULES),
        help="skip this group (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=sorted(MODULES),
        help="cProfile this group (written to <out>/profile_<group>.txt)",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    repetitions = args.repetitions or (1 if args.quick else 3)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    # Child processes of the benchmarks find `bench` through PYTHONPATH.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (common.REPO_ROOT, os.environ.get("PYTHONPATH")) if p
    )

    started = time.time()
    meta: Dict[str, Any] = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m bench.run_all "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "quick": args.quick,
        "full": args.full,
        "repetitions": repetitions,
        "host": {
            "cpus": os.cpu_count(),
            "load_start": _load_average(),
            "machine": platform.machine(),
        },
        "versions": _versions(),
        "commit": _commit(),
        "group_wall_s": {},
        "errors": {},
        "skipped": [],
    }
    groups = [g for g in (args.only or list(MODULES)) if g not in args.skip]
    rows: List[dict] = []
    _redirect_native_logs(os.path.join(out_dir, "logs", "native.log"))
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # deprecation notices of TF-Agents
    for group in groups:
        module_name = MODULES[group]
        if importlib.util.find_spec(module_name) is None:
            meta["skipped"].append(
                f"{group} ({module_name.replace('.', '/')}.py absent)"
            )
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception:
            meta["errors"][group] = traceback.format_exc()
            print(f"[bench] {group} failed:\n{meta['errors'][group]}", file=sys.stderr)
            continue
        if args.quick and not getattr(module, "QUICK", True):
            meta["skipped"].append(f"{group} (not run with --quick)")
            continue
        explicit = group in args.only or args.full
        if not explicit and not getattr(module, "DEFAULT", True):
            meta["skipped"].append(f"{group} (runs with --full or --only {group})")
            continue
        print(f"[bench] {group} ...", file=sys.stderr, flush=True)
        group_start = time.time()
        profiler = cProfile.Profile() if group in args.profile else None
        if profiler:
            # Modules that measure in child processes profile those too.
            os.environ[common.CHILD_PROFILE_ENV] = os.path.join(
                out_dir, f"profile_{group}"
            )
        try:
            if profiler:
                profiler.enable()
            group_rows = _call_run(module.run, repetitions, args.quick, args.full)
        except Exception:
            meta["errors"][group] = traceback.format_exc()
            print(f"[bench] {group} failed:\n{meta['errors'][group]}", file=sys.stderr)
            group_rows = []
        finally:
            if profiler:
                profiler.disable()
                os.environ.pop(common.CHILD_PROFILE_ENV, None)
                _write_profile(profiler, os.path.join(out_dir, f"profile_{group}.txt"))
        meta["group_wall_s"][group] = round(time.time() - group_start, 1)
        print(
            f"[bench] {group}: {len(group_rows)} rows in "
            f"{meta['group_wall_s'][group]:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        rows.extend(group_rows)
    meta["wall_s"] = round(time.time() - started, 1)
    meta["host"]["load_end"] = _load_average()
    summary = summarize(rows)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump({"meta": meta, "rows": summary}, f, indent=2)
        f.write("\n")
    table = markdown(summary, meta)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(table)
    print(table)
    return 1 if meta["errors"] else 0


def _redirect_native_logs(path: str) -> None:
    """Points file descriptor 2 (C++ logging of TF, Reverb, gRPC; inherited by
    child processes) at `path`; Python's sys.stderr keeps the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stderr = terminal


def _write_profile(profiler: cProfile.Profile, path: str) -> None:
    common.write_profile(profiler, path)


if __name__ == "__main__":
    sys.exit(main())
