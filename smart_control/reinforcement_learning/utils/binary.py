"""What every absl binary of the pipeline does the same way.

* Flags: `--gin_file` (repeatable), `--gin_bindings` (repeatable), `--root_dir`,
  and absl's own `--verbosity`. Every flag may be spelt with dashes or
  underscores (`--buffer-name` == `--buffer_name`, `--no-resume` ==
  `--noresume`), as the guide's commands use dashes.
* Errors a user can fix (a bad flag, a missing file, a gin typo, a bad value)
  end the program with one line `error: ...` on stderr and exit code 1 (2 for
  flags); a traceback is shown only with `--verbosity=1`.
* TensorFlow's and Reverb's C++ logging is written to `<output>/logs/native.log`
  instead of the terminal, unless `--verbosity` >= 1.
* Gin: files are looked up as given, then among the configs shipped with the
  package (`smart_control/configs/`, also reachable as `configs/` in a
  checkout); unknown names are errors, and so are required settings left
  unbound. Flags that name a gin setting become bindings after the user's
  (`flag_bindings`), so the operative config records what ran; it is written
  next to the binary's outputs when it finishes.
* SIGTERM is handled like Ctrl-C (KeyboardInterrupt), so a binary stopped by
  a launcher, a batch system or `kill` takes its Ctrl-C path (commit,
  checkpoint) and exits 130.
* Network: a binary that starts Reverb servers passes `network=` to `run`,
  which defines `--network=private|shared` with that default and, before
  `main` (so before TensorFlow starts threads), moves a private one into a
  network namespace of its own (see network_isolation.py);
  `network_status()` then says what happened.

A binary reads:

    def define_flags():
        binary.define_common_flags()
        flags.DEFINE_integer("capacity", None, "... (gin: ReplayBufferManager.capacity)")

    def main(argv):
        binary.check_no_arguments(argv)
        with binary.quiet_native_logs(output_dir):
            from smart_control... import library   # TensorFlow loads here
        binary.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings + binary.flag_bindings(
            {"capacity": "ReplayBufferManager.capacity"}))
        library.do_it(...)
        binary.write_operative_config(output_dir)

    def run():                      # the console script
        define_flags()
        binary.run(main)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import traceback
from typing import Callable, Iterator, List, Mapping, Optional, Sequence, Union

from absl import app, flags, logging

from smart_control.reinforcement_learning.utils import network_isolation, run_files

FLAGS = flags.FLAGS

# The gin configs shipped with the package (package data), wherever it is
# installed; a checkout also links them as configs/ at its top.
CONFIGS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "configs",
)
OPERATIVE_CONFIG_FILE = run_files.OPERATIVE_CONFIG_FILE
NATIVE_LOG = os.path.join(run_files.LOGS_DIR, "native.log")


class UserError(Exception):
    """An error the user can fix; reported as one line, without traceback."""


# Exceptions whose message is written for the user (the library raises these
# with the argument and value named); anything else is a bug and keeps its
# traceback.
_USER_ERRORS = (
    UserError,
    ValueError,
    # Every filesystem and OS error (missing files, permissions, a full or
    # read-only disk, a busy buffer directory, a port in use): its message
    # names the path or port and the cause.
    OSError,
)


def define_common_flags(
    root_dir_help: str = "Directory for this binary's outputs.",
) -> None:
    """Defines --gin_file, --gin_bindings and --root_dir (call once, in the binary)."""
    flags.DEFINE_multi_string(
        "gin_file",
        [],
        "Gin config file (repeatable); looked up as given, then under configs/.",
    )
    flags.DEFINE_multi_string(
        "gin_bindings",
        [],
        "Gin binding such as 'ReplayBufferManager.capacity = 1000' (repeatable).",
    )
    flags.DEFINE_string("root_dir", None, root_dir_help)


def normalize_argv(
    argv: Sequence[str], flag_values: flags.FlagValues = FLAGS
) -> List[str]:
    """Rewrites `--some-flag[=v]` to `--some_flag[=v]` for every known flag.

    Values are never touched, nor is anything after a bare `--`.
    """
    result = [argv[0]]
    passthrough = False
    for arg in argv[1:]:
        if passthrough or not arg.startswith("--") or arg == "--":
            passthrough = passthrough or arg == "--"
            result.append(arg)
            continue
        name, sep, value = arg[2:].partition("=")
        underscored = name.replace("-", "_")
        if underscored.startswith("no_") and underscored[3:] in flag_values:
            underscored = "no" + underscored[3:]
        if underscored in flag_values or (
            underscored.startswith("no") and underscored[2:] in flag_values
        ):
            name = underscored
        result.append(f"--{name}{sep}{value}")
    return result


def _print_help() -> None:
    """Usage: the binary's docstring and its own flags (absl's own: --helpfull)."""
    doc = (sys.modules["__main__"].__doc__ or "").strip()
    print(doc + "\n" if doc else "", end="")
    own = [
        flag
        for module, module_flags in FLAGS.flags_by_module_dict().items()
        if not module.startswith("absl.")
        for flag in module_flags
    ]
    print("\nflags:")
    for flag in sorted(own, key=lambda f: f.name):
        default = "" if flag.default is None else f" (default: {flag.default!r})"
        print(f"  --{flag.name}: {flag.help}{default}")
    print(
        "\nFlags may be spelt with dashes or underscores. --verbosity=1 shows "
        "TensorFlow/Reverb logs and tracebacks; --helpfull lists absl's flags too."
    )


def _parse_flags(argv: Sequence[str]) -> List[str]:
    if any(arg in ("-h", "--help", "-help", "--helpshort") for arg in argv[1:]):
        _print_help()
        sys.exit(0)
    try:
        return FLAGS(normalize_argv(argv))
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def run(
    main: Callable[[List[str]], Optional[int]],
    network: Union[None, str, Callable[[], str]] = None,
) -> None:
    """`app.run(main)` with dash-tolerant flags, one-line user errors, and
    SIGTERM handled as Ctrl-C.

    Args:
      main: the binary's main.
      network: for a binary that starts Reverb servers, the default of its
        `--network` flag: "private" or "shared", or a function of the parsed
        flags returning one (its docstring is the flag's default in --help).
        None: no such flag.
    """
    if network is not None and "network" not in FLAGS:
        _define_network_flag(network)

    def guarded_main(argv: List[str]) -> Optional[int]:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            if network is not None:
                _apply_network_flag(network)
            return main(argv)
        except _USER_ERRORS as e:
            return _report(e)
        except RuntimeError as e:
            # Gin's "Required bindings for `X` not provided in config: [...]".
            if not str(e).startswith("Required bindings"):
                raise
            return _report(e)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    def exit_with_code(argv: List[str]) -> None:
        sys.exit(guarded_main(argv) or 0)

    app.run(exit_with_code, flags_parser=_parse_flags)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _report(error: BaseException) -> int:
    """Prints `error: <first line>` (and the traceback with --verbosity=1)."""
    if FLAGS.verbosity >= 1:
        traceback.print_exc()
    message = str(error).strip().split("\n")[0].strip() or type(error).__name__
    print(f"error: {message}", file=sys.stderr)
    return 1


def check_no_arguments(argv: Sequence[str]) -> None:
    """Refuses positional arguments (a flag without its dashes, a stray value)."""
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")


def require_gin_file(example: str) -> None:
    """Refuses a run without --gin_file, naming an example."""
    if not FLAGS.gin_file:
        raise UserError(f"--gin_file is required, e.g. --gin_file={example}")


def flag_bindings(flag_to_gin: Mapping[str, str]) -> List[str]:
    """Gin bindings for the flags given on the command line.

    A flag that names a gin setting is that setting: `--capacity=5` becomes
    `ReplayBufferManager.capacity = 5`, appended after the user's bindings so
    that it wins and the operative config records it. Flags left at their
    default (None) bind nothing, so gin's value holds.
    """
    bindings = []
    for flag_name, gin_name in flag_to_gin.items():
        value = FLAGS[flag_name].value
        if value is not None:
            bindings.append(f"{gin_name} = {value!r}")
    return bindings


PRIVATE = "private"
SHARED = "shared"
_network_status: Optional[network_isolation.NetworkStatus] = None


def _define_network_flag(default: Union[str, Callable[[], str]]) -> None:
    if callable(default):
        default_help = " Default: " + " ".join((default.__doc__ or "").split())
        default = None
    else:
        default_help = ""
    flags.DEFINE_enum(
        "network",
        default,
        [PRIVATE, SHARED],
        "private: run in a network namespace of its own, so that the Reverb "
        "servers this process starts are reachable only by it and its child "
        "processes (a launcher's children share the launcher's); shared: they "
        "listen on all addresses of this machine, without authentication "
        "(README: Security)." + default_help,
    )


def _apply_network_flag(default: Union[str, Callable[[], str]]) -> None:
    """Enters a private network namespace if --network (or its default) says so."""
    global _network_status
    fallback = default() if callable(default) else default
    choice = FLAGS.network or fallback
    if choice == PRIVATE:
        try:
            _network_status = network_isolation.enter_private_network()
        except network_isolation.IsolationError as e:
            raise UserError(f"{e} (--network=shared skips isolation)") from None
        return
    _network_status = network_isolation.shared_status()
    if fallback == PRIVATE and not _network_status.private:
        print(
            "warning: --network=shared: the Reverb servers of this process listen "
            "on all addresses of this machine without authentication",
            file=sys.stderr,
            flush=True,
        )


def network_status() -> network_isolation.NetworkStatus:
    """Whether this process's servers are private (see `run(network=...)`)."""
    return _network_status or network_isolation.shared_status()


def resolve_gin_file(path: str) -> str:
    """The gin file as given, or under configs/; raises UserError if neither exists."""
    candidates = [path, os.path.join(CONFIGS_DIR, path)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise UserError(
        f"gin file not found: {path} (looked in . and {os.path.normpath(CONFIGS_DIR)})"
    )


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
    """Parses gin files then bindings; any unknown name or typo is a UserError.

    The files' `import` lines register the configurables they bind, so every
    binary parsing an experiment knows every name in it.
    """
    import gin

    _files_only_includes(gin)
    gin.add_config_file_search_path(os.path.normpath(CONFIGS_DIR))
    files = [resolve_gin_file(f) for f in gin_files]
    try:
        gin.parse_config_files_and_bindings(
            files, list(gin_bindings), skip_unknown=False
        )
    except (OSError, ValueError, SyntaxError, TypeError) as e:
        first_line = str(e).strip().split("\n")[0]
        # Chained: --verbosity=1 shows where it came from.
        raise UserError(f"gin: {first_line}") from e


def _files_only_includes(gin) -> None:
    """Includes are files (as given, or under configs/), never package resources.

    gin-config 0.5 tries each relative include (e.g. 'train/building_sac.gin')
    as a package resource before the search path, importing the package
    named by its directory ('train'). From a working directory that holds a
    directory of that name (a run directory has train/ and logs/), Python
    finds a namespace package without a file and gin fails with "expected
    str, bytes or os.PathLike object, not NoneType"; elsewhere it logs an
    error per include. Only the plain file reader is kept.
    """
    readers = gin.config._FILE_READERS
    readers[:] = [(read, exists) for read, exists in readers if read is open]


def write_operative_config(output_dir: str) -> str:
    """Writes the gin parameters that were actually used; returns the path."""
    import gin

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, OPERATIVE_CONFIG_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(gin.operative_config_str())
    os.replace(tmp, path)
    return path


_native_log_path: Optional[str] = None
_native_log_is_temporary = False


@contextlib.contextmanager
def quiet_native_logs(
    output_dir: Optional[str], verbosity: Optional[int] = None
) -> Iterator[None]:
    """Sends C++ (TensorFlow, Reverb, gRPC) logging to `<output_dir>/logs/native.log`.

    Use around the first import of TensorFlow. File descriptor 2 stays
    redirected for the life of the process (Reverb logs from its threads);
    Python's `sys.stderr`, and with it absl logging and progress bars, keeps
    writing to the terminal. With verbosity >= 1 nothing is redirected.

    With `output_dir=None` the log starts in a temporary file, to be moved
    next to the outputs by `attach_native_log` once the binary knows it may
    write there (so that a refused run leaves an existing output untouched).
    """
    global _native_log_path, _native_log_is_temporary
    if verbosity is None:
        verbosity = FLAGS.verbosity if FLAGS.is_parsed() else 0
    if verbosity >= 1:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if output_dir:
        log_path = os.path.join(output_dir, NATIVE_LOG)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
    else:
        fd, log_path = tempfile.mkstemp(prefix="smart_control-native-", suffix=".log")
        os.close(fd)
    _native_log_path = log_path
    _native_log_is_temporary = not output_dir
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    sys.stderr.flush()
    _redirect_fd2(log_path)
    # Python-level chatter during the heavy imports (e.g. gym's notice) goes to
    # the log too; afterwards Python writes to the terminal again.
    sys.stderr = open(log_path, "a", buffering=1)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = terminal
        _point_absl_at(terminal)


def _redirect_fd2(log_path: str) -> None:
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)


def attach_native_log(output_dir: str) -> Optional[str]:
    """Moves a temporary native log (see `quiet_native_logs`) under `output_dir`."""
    global _native_log_path
    if _native_log_path is None or not _native_log_path.startswith(
        tempfile.gettempdir()
    ):
        return _native_log_path
    target = os.path.join(output_dir, NATIVE_LOG)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(_native_log_path, "rb") as src, open(target, "ab") as dst:
        shutil.copyfileobj(src, dst)
    _redirect_fd2(target)
    os.remove(_native_log_path)
    _native_log_path = target
    _native_log_is_temporary = False
    return target


def _point_absl_at(stream) -> None:
    handler = logging.get_absl_handler()
    handler.python_handler.stream = stream


def check_address_flag(name: str, required: bool) -> None:
    """Checks that flag `name` is a Reverb address "host:port" (or unset if optional)."""
    value = getattr(FLAGS, name)
    if value is None and not required:
        return
    host, _, port = (value or "").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--{name} must be host:port, got {value!r}")


def make_output_dir(path: Optional[str], flag_name: str = "root_dir") -> str:
    """Checks that an output directory flag is given and creates the directory."""
    if not path:
        raise UserError(f"--{flag_name} is required")
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(path, exist_ok=True)
    return path
