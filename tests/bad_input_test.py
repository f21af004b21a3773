"""Bad input to every real binary: one error line, nothing modified (issue 15).

Each case runs a binary of this checkout as a subprocess, in a directory of
its own holding what the case could touch (a file, an unrelated directory of
the user's, weather files, a starter buffer, a train run, ...), with its own
empty $TMPDIR. Every case must

  * exit with the expected code (1, or 2 for a flag absl refuses),
  * write exactly one line to stderr: `error: ...` naming the problem,
  * leave the case directory byte-identical (every file's content and mode,
    every directory and link: nothing written, created or removed), and
  * leave its $TMPDIR empty.

The cases run once per session, a few at a time (each in its own process);
`test_bad_input` reports each. Most are refused before TensorFlow loads (a
fraction of a second); those marked heavy reach gin's real parse or the
libraries. `python tests/bad_input_test.py` prints the table's figures (with
BAD_INPUT_REPO=<checkout> for another checkout).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fcntl
import os
import socket
import sys
import time
from typing import Callable, Dict, Optional, Tuple

import pytest

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests import fault_testing as ft
else:
    from tests import fault_testing as ft

pytestmark = [pytest.mark.slow]

SCRIPTS = ft.SCRIPTS


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
      name: The case's id.
      binary: A key of `fault_testing.MODULES`.
      args: Arguments; `{d}` is the case directory, `{port}` a port in use.
      expect: Text the error line must contain (after formatting).
      code: Expected exit code.
      needs: Fixtures copied into the case directory: "buffer" (a complete
        starter buffer), "run" (a train run interrupted after a commit).
      setup: Called with the case directory after the fixtures are copied.
      lock: A path (formatted) whose buffer lock the test holds meanwhile.
      heavy: The refusal comes after TensorFlow loads (seconds, not ms).
    """

    name: str
    binary: str
    args: Tuple[str, ...]
    expect: str
    code: int = 1
    needs: Tuple[str, ...] = ()
    setup: Optional[Callable[[str], None]] = None
    lock: Optional[str] = None
    heavy: bool = False


def _case(name, binary, args, expect, **kwargs) -> Case:
    return Case(name, binary, tuple(args), expect, **kwargs)


# -- the user's files every case directory holds -----------------------------------

_LATIN1 = "température,°C\n".encode("latin-1")


def _world(d: str) -> None:
    with open(os.path.join(d, "file"), "w") as f:
        f.write("a file, not a directory\n")
    os.makedirs(os.path.join(d, "empty"))
    os.makedirs(os.path.join(d, "notes"))
    with open(os.path.join(d, "notes", "notes.txt"), "w") as f:
        f.write("the user's notes\n")
    os.makedirs(os.path.join(d, "epw_dir"))
    with open(os.path.join(d, "bad_codec.csv"), "wb") as f:
        f.write(b"timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2\n")
        f.write(b"2023-01-01T00:00:00+00:00,\xb0" + _LATIN1)
    with open(os.path.join(d, "no_columns.csv"), "w") as f:
        f.write("time,temperature\n2023-01-01T00:00:00+00:00,3\n")
    with open(os.path.join(d, "garbage.epw"), "w") as f:
        f.write("this is not an EPW file\n" * 20)
    with open(os.path.join(d, "unquoted.gin"), "w") as f:
        f.write("ReplayBufferManager.capacity = 1000\nepw_weather.path = /data/x.epw\n")
    with open(os.path.join(d, "latin1.gin"), "wb") as f:
        f.write(b"# " + _LATIN1)
    with open(os.path.join(d, "includes_missing.gin"), "w") as f:
        f.write("include 'no/such/include.gin'\n")
    with open(os.path.join(d, "sweep.txt"), "w") as f:
        f.write("ReplayBufferManager.capacity=[10, 20\n")


def _corrupt_populate_json(d: str) -> None:
    with open(os.path.join(d, "buffer", "populate.json"), "wb") as f:
        f.write(b"\x00\xffnot json")


def _drop_commit_record(d: str) -> None:
    checkpoints = os.path.join(d, "run", "train", "checkpoints")
    for name in os.listdir(checkpoints):
        if name.startswith("commit-"):
            os.remove(os.path.join(checkpoints, name))


# -- the table --------------------------------------------------------------------

POP = ["--noprogress"]
EPW = "--gin_file=environment/weather_epw.gin"
CSV = "--gin_file=environment/weather_csv.gin"
QUICK = "--gin_file=experiments/quickstart.gin"


def _common_cases() -> list:
    """What every binary refuses the same way (binary.py)."""
    cases = []
    root_flag = {
        "populate": ["--root_dir={d}/out"],
        "train": ["--root_dir={d}/out"],
        "eval": ["--root_dir={d}/out"],
        "collect": ["--root_dir={d}/out"],
        "reverb_server": ["--root_dir={d}/out"],
        "inspect_buffer": [],
        "export_buffer": [],
        "run_experiment": ["--root_dir={d}/out"],
        "sweep": ["--root_dir={d}/out"],
    }
    for binary, root in root_flag.items():
        cases += [
            _case(
                f"{binary}-unknown-flag",
                binary,
                [*root, "--bogus=1"],
                "Unknown command line flag 'bogus'",
                code=2,
            ),
            _case(
                f"{binary}-stray-argument",
                binary,
                [*root, "stray"],
                "unexpected arguments: stray",
            ),
            _case(
                f"{binary}-missing-gin-file",
                binary,
                [*root, "--gin_file={d}/nope.gin"],
                "gin file not found: {d}/nope.gin",
            ),
            _case(
                f"{binary}-gin-file-is-a-directory",
                binary,
                [*root, "--gin_file={d}/empty"],
                "gin file {d}/empty is a directory",
            ),
            _case(
                f"{binary}-gin-file-not-utf8",
                binary,
                [*root, "--gin_file={d}/latin1.gin"],
                "{d}/latin1.gin is not UTF-8",
            ),
            _case(
                f"{binary}-unquoted-string-in-gin-file",
                binary,
                [*root, "--gin_file={d}/unquoted.gin"],
                "{d}/unquoted.gin, line 2: the value of epw_weather.path is not a "
                "Python literal; strings need quotes: epw_weather.path = '/data/x.epw'",
            ),
            _case(
                f"{binary}-unquoted-string-binding",
                binary,
                [*root, "--gin_bindings=csv_weather.path=/data/site.csv"],
                "strings need quotes: csv_weather.path = '/data/site.csv'",
            ),
            _case(
                f"{binary}-missing-include",
                binary,
                [*root, "--gin_file={d}/includes_missing.gin"],
                "gin file not found: no/such/include.gin (included by",
            ),
        ]
        if root:
            cases.append(
                _case(
                    f"{binary}-root-dir-is-a-file",
                    binary,
                    ["--root_dir={d}/file", QUICK],
                    "--root_dir {d}/file is a file, not a directory",
                )
            )
            cases.append(
                _case(
                    f"{binary}-root-dir-under-a-file",
                    binary,
                    ["--root_dir={d}/file/out", QUICK],
                    "--root_dir {d}/file/out: {d}/file is a file, not a directory",
                )
            )
    return cases


def _populate_cases() -> list:
    out = ["--root_dir={d}/out", *POP]
    buf = ["--root_dir={d}/buffer", *POP]
    same = ["--steps_per_run=24", "--num_runs=2", "--seed=3"]  # the fixture's config
    return [
        _case("populate-no-buffer-name", "populate", POP, "give --buffer_name"),
        _case(
            "populate-buffer-name-with-slash",
            "populate",
            ["--buffer_name=a/b", *POP],
            "--buffer_name must be a plain name",
        ),
        _case(
            "populate-buffer-root-is-a-file",
            "populate",
            ["--buffer_name=x", "--buffer_root={d}/file", *POP],
            "--buffer_root {d}/file is a file, not a directory",
        ),
        _case(
            "populate-capacity-0",
            "populate",
            [*out, "--capacity=0"],
            "capacity must be an integer >= 1, got 0",
        ),
        _case(
            "populate-capacity-1e20",
            "populate",
            [*out, "--capacity=100000000000000000000"],
            "capacity must be an integer from 1 to 9223372036854775807",
        ),
        _case(
            "populate-capacity-float-binding",
            "populate",
            # The starter buffer's capacity is scoped (populate/starter_buffer.gin).
            [*out, "--gin_bindings=populate/ReplayBufferManager.capacity = 1e20"],
            "capacity must be an integer >= 1, got 1e+20",
        ),
        _case(
            "populate-capacity-not-a-number",
            "populate",
            [*out, "--capacity=lots"],
            "flag --capacity=lots",
            code=2,
        ),
        _case(
            "populate-steps-negative",
            "populate",
            [*out, "--steps-per-run=-4"],
            "steps_per_run must be an integer >= 1, got -4",
        ),
        _case(
            "populate-runs-0",
            "populate",
            [*out, "--num_runs=0"],
            "num_runs must be an integer >= 1, got 0",
        ),
        _case(
            "populate-seed-negative",
            "populate",
            [*out, "--seed=-1"],
            "seed must be an integer >= 0, got -1",
        ),
        _case(
            "populate-sequence-length-0",
            "populate",
            [*out, "--sequence_length=0"],
            "sequence_length must be an integer >= 1, got 0",
        ),
        _case(
            "populate-items-longer-than-a-run",
            "populate",
            [*out, "--sequence_length=10", "--steps_per_run=4"],
            "sequence_length = 10 is longer than steps_per_run = 4",
        ),
        _case(
            "populate-items-longer-than-a-run-gin",
            "populate",
            [*out, "--gin_bindings=ReplayBufferManager.sequence_length = 700"],
            "sequence_length = 700 is longer than steps_per_run = 672",
        ),
        _case(
            "populate-resume-and-overwrite",
            "populate",
            [*out, "--resume", "--overwrite"],
            "--resume and --overwrite exclude",
        ),
        _case(
            "populate-existing-buffer",
            "populate",
            [*buf, *same],
            "a replay buffer already exists in {d}/buffer",
            needs=("buffer",),
        ),
        _case(
            "populate-resume-other-seed",
            "populate",
            [*buf, "--resume", "--steps_per_run=24", "--num_runs=2", "--seed=4"],
            "cannot resume {d}/buffer: it was populated with",
            needs=("buffer",),
        ),
        _case(
            "populate-resume-corrupt-populate-json",
            "populate",
            [*buf, "--resume", *same],
            "cannot resume: {d}/buffer/populate.json is unreadable",
            needs=("buffer",),
            setup=_corrupt_populate_json,
        ),
        _case(
            "populate-resume-locked-buffer",
            "populate",
            [*buf, "--resume", *same],
            "{d}/buffer is in use",
            needs=("buffer",),
            lock="{d}/buffer",
        ),
        _case(
            "populate-overwrite-locked-buffer",
            "populate",
            [*buf, "--overwrite", *same],
            "{d}/buffer is in use",
            needs=("buffer",),
            lock="{d}/buffer",
        ),
        _case(
            "populate-overwrite-not-a-buffer-root-file",
            "populate",
            ["--root_dir={d}/notes/notes.txt", "--overwrite", *POP],
            "--root_dir {d}/notes/notes.txt is a file, not a directory",
        ),
        _case(
            "populate-epw-path-is-a-directory",
            "populate",
            [*out, EPW, "--gin_bindings=epw_weather.path = '{d}/epw_dir'"],
            "epw_weather.path {d}/epw_dir: a directory, not an EPW weather file",
        ),
        _case(
            "populate-epw-missing",
            "populate",
            [*out, EPW, "--gin_bindings=epw_weather.path = '{d}/none.epw'"],
            "epw_weather.path {d}/none.epw: no such EPW weather file",
        ),
        _case(
            "populate-epw-garbage",
            "populate",
            [*out, EPW, "--gin_bindings=epw_weather.path = '{d}/garbage.epw'"],
            "{d}/garbage.epw: not an EPW file",
        ),
        _case(
            "populate-epw-not-a-string",
            "populate",
            [*out, EPW, "--gin_bindings=epw_weather.path = 7"],
            "epw_weather.path must be a file path string, got 7",
        ),
        _case(
            "populate-csv-bad-codec",
            "populate",
            [*out, CSV, "--gin_bindings=csv_weather.path = '{d}/bad_codec.csv'"],
            "csv_weather.path {d}/bad_codec.csv: not UTF-8 text (byte 0xb0",
        ),
        _case(
            "populate-csv-missing-columns",
            "populate",
            [*out, CSV, "--gin_bindings=csv_weather.path = '{d}/no_columns.csv'"],
            "{d}/no_columns.csv: missing columns",
        ),
        _case(
            "populate-csv-is-a-directory",
            "populate",
            [*out, CSV, "--gin_bindings=csv_weather.path = '{d}/empty'"],
            "{d}/empty: a directory, not a weather CSV",
        ),
        _case(
            "populate-gin-binding-syntax",
            "populate",
            [*out, "--gin_bindings=ReplayBufferManager.capacity 5"],
            "Couldn't parse statement",
        ),
        _case(
            "populate-include-in-binding",
            "populate",
            [*out, "--gin_bindings=include 'x.gin'"],
            "includes belong in a gin file",
        ),
        # After TensorFlow: gin's own checks and the buffer's.
        _case(
            "populate-epw-path-unbound",
            "populate",
            [*out, "--gin_file=populate/starter_buffer.gin", EPW],
            "gin: epw_weather.path must be bound (no default)",
            heavy=True,
        ),
        _case(
            "populate-gin-typo",
            "populate",
            [*out, "--gin_bindings=ReplayBufferManager.capasity = 5"],
            "gin: ",
            heavy=True,
        ),
        _case(
            "populate-resume-capacity-below-items",
            "populate",
            [*buf, "--resume", *same, "--capacity=10"],
            "capacity",
            needs=("buffer",),
            heavy=True,
        ),
    ]


def _train_cases() -> list:
    out = ["--root_dir={d}/out"]
    tiny = list(ft.TINY_TRAIN)
    return [
        _case("train-no-root-dir", "train", [QUICK], "--root_dir is required"),
        _case("train-no-gin-file", "train", out, "--gin_file is required"),
        _case(
            "train-starter-buffer-missing",
            "train",
            [*out, QUICK, "--starter_buffer={d}/nope"],
            "starter buffer not found: {d}/nope",
        ),
        _case(
            "train-starter-buffer-is-a-file",
            "train",
            [*out, QUICK, "--starter_buffer={d}/file"],
            "starter buffer {d}/file is a file",
        ),
        _case(
            "train-bad-server-address",
            "train",
            [*out, QUICK, "--replay_buffer_server_address=localhost"],
            "must be host:port, got 'localhost'",
        ),
        _case(
            "train-weights-without-server",
            "train",
            [*out, QUICK, "--variable_container_server_address=localhost:8001"],
            "needs --replay_buffer_server_address",
        ),
        _case(
            "train-distributed-with-starter-buffer",
            "train",
            [
                *out,
                QUICK,
                "--replay_buffer_server_address=localhost:8000",
                "--starter_buffer={d}/buffer",
                "--network=shared",
            ],
            "--starter_buffer is the server's in distributed mode",
        ),
        _case(
            "train-capacity-float",
            "train",
            [*out, QUICK, "--gin_bindings=ReplayBufferManager.capacity = 1e20"],
            "capacity must be an integer >= 1, got 1e+20",
        ),
        _case(
            "train-capacity-huge",
            "train",
            [
                *out,
                QUICK,
                "--gin_bindings=ReplayBufferManager.capacity = 100000000000000000000",
            ],
            "capacity must be an integer from 1 to 9223372036854775807",
        ),
        _case(
            "train-epw-path-is-a-directory",
            "train",
            [*out, QUICK, EPW, "--gin_bindings=epw_weather.path = '{d}/epw_dir'"],
            "a directory, not an EPW weather file",
        ),
        _case(
            "train-run-without-commit-record",
            "train",
            ["--root_dir={d}/run", *tiny],
            "has no commit record",
            needs=("run",),
            setup=_drop_commit_record,
        ),
        _case(
            "train-network-flag",
            "train",
            [*out, QUICK, "--network=open"],
            "--network",
            code=2,
        ),
        # After TensorFlow.
        _case(
            "train-zero-steps",
            "train",
            [*out, QUICK, "--gin_bindings=TrainConfig.num_train_steps = 0"],
            "TrainConfig.num_train_steps must be an integer >= 1, got 0",
            heavy=True,
        ),
        _case(
            "train-resume-with-another-agent",
            "train",
            ["--root_dir={d}/run", *tiny, "--gin_file=agents/td3.gin"],
            "does not fit the Td3Agent",
            needs=("run",),
            heavy=True,
        ),
    ]


def _eval_cases() -> list:
    out = ["--root_dir={d}/out"]
    return [
        _case(
            "eval-policy-missing",
            "eval",
            [*out, "--policy={d}/nope"],
            "policy not found: {d}/nope",
        ),
        _case(
            "eval-policy-is-a-file",
            "eval",
            [*out, "--policy={d}/file"],
            "--policy {d}/file is a file",
        ),
        _case(
            "eval-policy-not-a-saved-model",
            "eval",
            [*out, "--policy={d}/notes"],
            "no policy SavedModel (saved_model.pb) in {d}/notes",
        ),
        _case(
            "eval-episodes-per-season-0",
            "eval",
            [*out, "--episodes_per_season=0"],
            "--episodes_per_season must be an integer >= 1, got 0",
        ),
        _case(
            "eval-episode-days-0",
            "eval",
            [*out, "--episode_days=0"],
            "--episode_days must be an integer >= 1, got 0",
        ),
        _case(
            "eval-seed-negative",
            "eval",
            [*out, "--seed=-1"],
            "--seed must be an integer >= 0, got -1",
        ),
        _case(
            "eval-num-episodes-0",
            "eval",
            [*out, "--num_episodes=0"],
            "--num_episodes must be an integer >= 1, got 0",
        ),
        _case("eval-no-root-dir", "eval", [], "--root_dir is required"),
        _case(
            "eval-epw-garbage",
            "eval",
            [
                *out,
                "--gin_file=eval/building.gin",
                EPW,
                "--gin_bindings=epw_weather.path = '{d}/garbage.epw'",
            ],
            "not an EPW file",
        ),
        _case(
            "eval-gin-typo",
            "eval",
            [*out, "--gin_bindings=evaluation_set.episodes_per_seasn = 2"],
            "gin: ",
            heavy=True,
        ),
    ]


def _collect_cases() -> list:
    base = ["--root_dir={d}/out", QUICK]
    return [
        _case(
            "collect-no-gin-file",
            "collect",
            ["--root_dir={d}/out", "--replay_buffer_server_address=localhost:8000"],
            "--gin_file is required",
        ),
        _case(
            "collect-no-server",
            "collect",
            base,
            "--replay_buffer_server_address is required",
        ),
        _case(
            "collect-bad-server-address",
            "collect",
            [*base, "--replay_buffer_server_address=localhost"],
            "must be host:port, got 'localhost'",
        ),
        _case(
            "collect-bad-weights-address",
            "collect",
            [
                *base,
                "--replay_buffer_server_address=localhost:8000",
                "--variable_container_server_address=localhost:port",
            ],
            "must be host:port, got 'localhost:port'",
        ),
        _case(
            "collect-task-negative",
            "collect",
            [*base, "--replay_buffer_server_address=localhost:8000", "--task=-1"],
            "--task must be >= 0, got -1",
        ),
        _case(
            "collect-max-env-steps-negative",
            "collect",
            [
                *base,
                "--replay_buffer_server_address=localhost:8000",
                "--max_env_steps=-5",
            ],
            "--max_env_steps must be an integer >= 0, got -5",
        ),
        _case(
            "collect-no-root-dir",
            "collect",
            [QUICK, "--replay_buffer_server_address=localhost:8000"],
            "--root_dir is required",
        ),
    ]


def _server_cases() -> list:
    out = ["--root_dir={d}/out"]
    return [
        _case(
            "server-port-too-large",
            "reverb_server",
            [*out, "--port=70000"],
            "--port must be in 0..65535, got 70000",
        ),
        _case(
            "server-port-negative",
            "reverb_server",
            [*out, "--port=-1"],
            "--port must be in 0..65535, got -1",
        ),
        _case(
            "server-same-ports",
            "reverb_server",
            [*out, "--port=18000", "--variable_container_port=18000"],
            "both 18000",
        ),
        _case(
            "server-port-in-use",
            "reverb_server",
            [*out, "--port={port}"],
            "port {port} is already in use",
        ),
        _case(
            "server-weights-port-in-use",
            "reverb_server",
            [*out, "--variable_container_port={port}"],
            "port {port} is already in use",
        ),
        _case(
            "server-starter-buffer-missing",
            "reverb_server",
            [*out, "--starter_buffer={d}/nope"],
            "no such directory {d}/nope",
        ),
        _case(
            "server-starter-buffer-is-a-file",
            "reverb_server",
            [*out, "--starter_buffer={d}/file"],
            "{d}/file is a file",
        ),
        _case(
            "server-checkpoint-interval-negative",
            "reverb_server",
            [*out, "--checkpoint_interval_s=-1"],
            "--checkpoint_interval_s must be a number >= 0",
        ),
        _case(
            "server-locked-buffer",
            "reverb_server",
            ["--root_dir={d}/buffer"],
            "{d}/buffer is in use",
            needs=("buffer",),
            lock="{d}/buffer",
        ),
    ]


def _inspect_cases() -> list:
    return [
        _case("inspect-no-root-dir", "inspect_buffer", [], "--root_dir is required"),
        _case(
            "inspect-missing",
            "inspect_buffer",
            ["--root_dir={d}/nope"],
            "no such buffer directory: {d}/nope",
        ),
        _case(
            "inspect-a-file",
            "inspect_buffer",
            ["--root_dir={d}/file"],
            "--root_dir {d}/file is a file",
        ),
        _case(
            "inspect-batch-size-0",
            "inspect_buffer",
            ["--root_dir={d}/buffer", "--batch_size=0"],
            "--batch_size must be an integer >= 1, got 0",
            needs=("buffer",),
        ),
        _case(
            "inspect-empty-directory",
            "inspect_buffer",
            ["--root_dir={d}/empty"],
            "no complete replay buffer checkpoint found in {d}/empty",
            heavy=True,
        ),
    ]


def _export_cases() -> list:
    return [
        _case(
            "export-both-modes",
            "export_buffer",
            ["--buffer={d}/buffer", "--import_minari={d}/notes"],
            "exclude each other",
        ),
        _case("export-no-mode", "export_buffer", [], "give --buffer to export"),
        _case(
            "export-format",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/o", "--format=csv"],
            "--format must be minari or parquet, got 'csv'",
            needs=("buffer",),
        ),
        _case(
            "export-column-names",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/o", "--column_names=x"],
            "--column_names must be",
            needs=("buffer",),
        ),
        _case(
            "export-no-output",
            "export_buffer",
            ["--buffer={d}/buffer"],
            "--output is required",
            needs=("buffer",),
        ),
        _case(
            "export-missing-buffer",
            "export_buffer",
            ["--buffer={d}/nope", "--output={d}/o"],
            "no such buffer directory: {d}/nope",
        ),
        _case(
            "export-not-a-buffer",
            "export_buffer",
            ["--buffer={d}/notes", "--output={d}/o"],
            "is not a replay buffer",
        ),
        _case(
            "export-output-exists",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/notes"],
            "{d}/notes already exists; pass --overwrite",
            needs=("buffer",),
        ),
        _case(
            "export-overwrite-not-an-export",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/notes", "--overwrite"],
            "is not an export; --overwrite replaces only an export",
            needs=("buffer",),
        ),
        _case(
            "export-output-is-the-buffer",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/buffer", "--overwrite"],
            "",
            needs=("buffer",),
        ),
        _case(
            "export-output-under-a-file",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/file/o"],
            "--output {d}/file/o: {d}/file is a file",
            needs=("buffer",),
        ),
        _case(
            "export-root-dir-with-export",
            "export_buffer",
            ["--buffer={d}/buffer", "--output={d}/o", "--root_dir={d}/r"],
            "--root_dir names the new buffer of --import_minari",
            needs=("buffer",),
        ),
        _case(
            "import-without-root-dir",
            "export_buffer",
            ["--import_minari={d}/notes"],
            "--root_dir (the new buffer directory) is required",
        ),
        _case(
            "import-of-nothing",
            "export_buffer",
            ["--import_minari={d}/nope", "--root_dir={d}/b"],
            "no such Minari dataset: {d}/nope",
        ),
        _case(
            "import-capacity-0",
            "export_buffer",
            ["--import_minari={d}/notes", "--root_dir={d}/b", "--capacity=0"],
            "--capacity must be an integer >= 1, got 0",
        ),
    ]


def _launcher_cases() -> list:
    out = ["--root_dir={d}/out"]
    return [
        _case("run-no-gin-file", "run_experiment", out, "--gin_file is required"),
        _case("run-no-root-dir", "run_experiment", [QUICK], "--root_dir is required"),
        _case(
            "run-slurm-embedded",
            "run_experiment",
            [*out, QUICK, "--executor=slurm"],
            "--executor=slurm needs --mode=distributed",
        ),
        _case(
            "run-unknown-stage",
            "run_experiment",
            [*out, QUICK, "--stages=fly"],
            "unknown stage(s) ['fly']",
        ),
        _case(
            "run-bad-mode",
            "run_experiment",
            [*out, QUICK, "--mode=bogus"],
            "flag --mode=bogus",
            code=2,
        ),
        _case(
            "run-epw-directory",
            "run_experiment",
            [*out, QUICK, EPW, "--gin_bindings=epw_weather.path = '{d}/epw_dir'"],
            "a directory, not an EPW weather file",
        ),
        _case(
            "run-gin-typo",
            "run_experiment",
            [*out, QUICK, "--gin_bindings=BuildingEnvironment.episode_dayz = 1"],
            "episode_dayz",
            heavy=True,
        ),
        _case(
            "run-zero-collectors",
            "run_experiment",
            [*out, QUICK, "--num_collectors=0"],
            "num_collectors",
            heavy=True,
        ),
        _case(
            "sweep-not-a-list",
            "sweep",
            [*out, QUICK, "--sweep=ReplayBufferManager.capacity=12"],
            "--sweep values must be a non-empty list, got '12'",
        ),
        _case(
            "sweep-empty-list",
            "sweep",
            [*out, QUICK, "--sweep=ReplayBufferManager.capacity=[]"],
            "--sweep values must be a non-empty list",
        ),
        _case(
            "sweep-malformed",
            "sweep",
            [*out, QUICK, "--sweep=capacity"],
            "--sweep must look like",
        ),
        _case(
            "sweep-file-missing",
            "sweep",
            [*out, QUICK, "--sweep_file={d}/nope"],
            "sweep file not found: {d}/nope",
        ),
        _case(
            "sweep-file-malformed",
            "sweep",
            [*out, QUICK, "--sweep_file={d}/sweep.txt"],
            "--sweep values must be a Python list literal",
        ),
        _case(
            "sweep-max-parallel-0",
            "sweep",
            [*out, QUICK, "--sweep=SEED=[1, 2]", "--max_parallel=0"],
            "--max_parallel must be >= 1, got 0",
        ),
        _case(
            "sweep-no-gin-file",
            "sweep",
            [*out, "--sweep=SEED=[1, 2]"],
            "--gin_file is required",
        ),
        _case(
            "sweep-bad-point",
            "sweep",
            [*out, QUICK, "--sweep=BuildingEnvironment.episode_days=[1, 0]"],
            "episode_days",
            heavy=True,
        ),
    ]


CASES = (
    _common_cases()
    + _populate_cases()
    + _train_cases()
    + _eval_cases()
    + _collect_cases()
    + _server_cases()
    + _inspect_cases()
    + _export_cases()
    + _launcher_cases()
)
assert len({c.name for c in CASES}) == len(CASES), "duplicate case names"


# -- running ----------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    case: Case
    outcome: ft.Outcome
    expect: str
    changes: list


def _hold_lock(path: str):
    fd = os.open(os.path.join(path, ".lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def run_case(case: Case, base: str, fixtures: Dict[str, str]) -> Result:
    d = os.path.join(base, case.name, "world")
    tmpdir = os.path.join(base, case.name, "tmp")
    os.makedirs(d)
    _world(d)
    for name in case.needs:
        ft.copy_tree(fixtures[name], os.path.join(d, name))
    if case.setup is not None:
        case.setup(d)
    busy = socket.socket()
    busy.bind(("", 0))
    busy.listen()
    port = busy.getsockname()[1]
    values = {"d": d, "port": port}
    args = [a.format(**values) for a in case.args]
    expect = case.expect.format(**values)
    lock_fd = _hold_lock(case.lock.format(**values)) if case.lock else None
    try:
        before = ft.tree_state(d)
        outcome = ft.run_binary(case.binary, args, cwd=d, tmpdir=tmpdir)
        after = ft.tree_state(d)
    finally:
        busy.close()
        if lock_fd is not None:
            os.close(lock_fd)
    return Result(case, outcome, expect, ft.tree_changes(before, after))


def make_fixtures(scratch: str) -> Dict[str, str]:
    """The starter buffer and the interrupted run the cases copy."""
    buffer_dir, run_dir = ft.make_buffer_and_run(scratch)
    fixtures = {"buffer": buffer_dir, "run": run_dir}
    assert {n for c in CASES for n in c.needs} <= set(fixtures)
    return fixtures


def run_all(base: str, workers: int = 3) -> Dict[str, Result]:
    started = time.monotonic()
    fixtures = make_fixtures(os.path.join(base, "_fixtures"))
    fixture_s = time.monotonic() - started
    # Heavy cases first: they are the long poles.
    ordered = sorted(CASES, key=lambda c: not c.heavy)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {c.name: pool.submit(run_case, c, base, fixtures) for c in ordered}
        results = {name: f.result() for name, f in futures.items()}
    run_all.timing = (fixture_s, time.monotonic() - started - fixture_s)
    return results


def verdict(result: Result) -> list:
    """What is wrong with a case's outcome (empty: it passed)."""
    o, problems = result.outcome, []
    if o.returncode != result.case.code:
        problems.append(f"exit code {o.returncode}, expected {result.case.code}")
    if len(o.lines) != 1:
        problems.append(f"{len(o.lines)} stderr lines")
    if not (o.lines and o.lines[-1].startswith("error: ")):
        problems.append("no error: line last")
    elif result.expect not in o.lines[-1]:
        problems.append(f"error line lacks {result.expect!r}")
    if o.traceback:
        problems.append("traceback")
    if result.changes:
        problems.append(f"modified: {result.changes[:5]}")
    if o.leftovers:
        problems.append(f"left in $TMPDIR: {o.leftovers}")
    return problems


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    return run_all(str(tmp_path_factory.mktemp("bad_input")))


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(results, case):
    result = results[case.name]
    problems = verdict(result)
    assert not problems, f"{case.name}: {problems}\n{ft.describe(result.outcome)}"


def test_the_table_is_large_and_mostly_light():
    assert len(CASES) >= 100
    assert sum(c.heavy for c in CASES) <= 15
    assert {c.binary for c in CASES} == set(ft.MODULES)


def main() -> int:
    import tempfile

    base = tempfile.mkdtemp(prefix="bad_input-")
    results = run_all(base, workers=int(os.environ.get("BAD_INPUT_WORKERS", "3")))
    passed = one_line = tracebacks = modified = leftovers = 0
    for name, result in results.items():
        problems = verdict(result)
        o = result.outcome
        passed += not problems
        one_line += len(o.lines) == 1 and o.lines[0].startswith("error: ")
        tracebacks += o.traceback
        modified += bool(result.changes)
        leftovers += bool(o.leftovers)
        if problems:
            last = o.lines[-1][:160] if o.lines else ""
            print(f"FAIL {name}: {'; '.join(problems)[:300]}\n     {last}")
    fixture_s, cases_s = run_all.timing
    slowest = sorted(results.values(), key=lambda r: -r.outcome.seconds)[:8]
    print(
        "slowest: "
        + ", ".join(f"{r.case.name} {r.outcome.seconds:.0f} s" for r in slowest)
    )
    print(
        f"{len(results)} cases ({sum(c.heavy for c in CASES)} heavy): {passed} pass; "
        f"{one_line} one error line, {tracebacks} tracebacks, {modified} modified "
        f"the tree, {leftovers} left files in $TMPDIR; fixtures {fixture_s:.0f} s, "
        f"cases {cases_s:.0f} s; in {base}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
