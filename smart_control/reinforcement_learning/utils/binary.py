"""What every absl binary of the pipeline does the same way.

* Flags: `--gin_file` (repeatable), `--gin_bindings` (repeatable), `--root_dir`,
  and absl's own `--verbosity`. Every flag may be spelt with dashes or
  underscores (`--buffer-name` == `--buffer_name`, `--no-resume` ==
  `--noresume`), as the guide's commands use dashes.
* Errors a user can fix (a bad flag, a missing file, a gin typo, a bad value,
  a filesystem error: disk full, read-only, permission denied, a file where a
  directory belongs) end the program with one line `error: ...` on stderr
  naming the path or setting and the cause, and exit code 1 (2 for flags); a
  traceback is shown only with `--verbosity=1`. Whatever can be checked
  before TensorFlow loads is (`--root_dir`, gin files and their syntax, the
  weather files gin names; see `preflight`), so most refusals take a
  fraction of a second, and a refused run writes nothing: no output
  directory, no log, nothing left in $TMPDIR.
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
import errno
import logging as std_logging
import os
import re
import shutil
import signal
import sys
import tempfile
import tokenize
import traceback
from typing import Callable, Iterator, List, Mapping, Optional, Sequence, Union

from absl import app, flags, logging

from smart_control.reinforcement_learning.utils import (
    gin_preview,
    json_files,
    network_isolation,
    run_files,
)

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


# Checks of a config's literal values, given to `run` by the binary (they
# live in the layers that know the values: the weather files, say).
GinCheck = Callable[[gin_preview.GinPreview], None]
_gin_checks: Sequence[GinCheck] = ()


# What --root_dir is to the binary: OUTPUT (written: must be, or be creatable
# as, a writable directory) or INPUT (read: must exist). Checked by `run`
# before `main`.
OUTPUT = "output"
INPUT = "input"
_root_dir_role = OUTPUT


def define_common_flags(
    root_dir_help: str = "Directory for this binary's outputs.",
    root_dir_role: str = OUTPUT,
) -> None:
    """Defines --gin_file, --gin_bindings and --root_dir (call once, in the binary).

    Args:
      root_dir_help: The help of --root_dir.
      root_dir_role: OUTPUT or INPUT (see `preflight`).
    """
    global _root_dir_role
    _root_dir_role = root_dir_role
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
    gin_checks: Sequence[GinCheck] = (),
) -> None:
    """`app.run(main)` with dash-tolerant flags, one-line user errors, and
    SIGTERM handled as Ctrl-C.

    Args:
      main: the binary's main.
      network: for a binary that starts Reverb servers, the default of its
        `--network` flag: "private" or "shared", or a function of the parsed
        flags returning one (its docstring is the flag's default in --help).
        None: no such flag.
      gin_checks: checks of the config's literal values (see `check_gin`),
        run before `main`; they raise OSError or ValueError in one line.
    """
    global _gin_checks
    _gin_checks = tuple(gin_checks)
    if network is not None and "network" not in FLAGS:
        _define_network_flag(network)

    def guarded_main(argv: List[str]) -> Optional[int]:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            if network is not None:
                _apply_network_flag(network)
            preflight()
            return main(argv)
        except _USER_ERRORS as e:
            return _report(e)
        except Exception as e:
            if user_message(e) is None:
                raise
            return _report(e)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    def exit_with_code(argv: List[str]) -> None:
        try:
            code = guarded_main(argv) or 0
        finally:
            _discard_temporary_native_log()
            _quiet_shutdown()
        sys.exit(code)

    app.run(exit_with_code, flags_parser=_parse_flags)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _report(error: BaseException) -> int:
    """Prints `error: <one line>` (and the traceback with --verbosity=1)."""
    if FLAGS.verbosity >= 1:
        traceback.print_exc()
    message = user_message(error) or _first_line(str(error)) or type(error).__name__
    sys.stderr.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


# "[Errno 28] No space left on device: '/x'" (also from gin's proxies of an
# OSError raised in a configurable, which lose the attributes).
_ERRNO_MESSAGE = re.compile(r"^\[Errno (\d+)\] (.*?)(?:: '(.*?)')?(?: -> '(.*)')?$")
# The causes of filesystem errors as TensorFlow and Reverb word them (their
# errors are not OSErrors): "<path>; No space left on device".
_FILESYSTEM_CAUSES = tuple(
    os.strerror(code)
    for code in (
        errno.ENOSPC,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENOENT,
        errno.EDQUOT,
        errno.EIO,
    )
)
_REQUIRED_BINDINGS = re.compile(
    r"^Required bindings for `([^`]+)` not provided in config: \[(.*)\]"
)


def describe_os_error(error: OSError) -> str:
    """`<path>: <cause>` for an OSError with a file name, else its message."""
    strerror, filename, filename2 = error.strerror, error.filename, error.filename2
    if strerror is None:
        first = _first_line(str(error))
        match = _ERRNO_MESSAGE.match(first)
        if not match:
            return first or type(error).__name__
        strerror, filename, filename2 = match.group(2, 3, 4)
    if filename is None:
        return strerror
    paths = f"{os.fsdecode(filename)}" + (
        f" -> {os.fsdecode(filename2)}" if filename2 else ""
    )
    return f"{paths}: {strerror}"


def user_message(error: BaseException) -> Optional[str]:
    """The one line for an error the user can fix; None for a bug.

    Beyond `_USER_ERRORS`: gin's "Required bindings" error (said as the
    setting to bind), and TensorFlow's or Reverb's errors whose cause is the
    filesystem (a full or read-only disk, permissions); their message names
    the path.
    """
    if isinstance(error, OSError):
        return describe_os_error(error)
    first = _first_line(str(error))
    match = _REQUIRED_BINDINGS.match(first)
    if match:
        names = [n.strip(" '\"") for n in match.group(2).split(",") if n.strip()]
        settings = ", ".join(f"{match.group(1)}.{n}" for n in names)
        example = f"{match.group(1)}.{names[0]}" if names else match.group(1)
        return (
            f"gin: {settings} must be bound (no default): add a binding such as "
            f'--gin_bindings="{example} = ..."'
        )
    if isinstance(error, _USER_ERRORS):
        return first or type(error).__name__
    # The class or, for gin's proxy of an error raised in a configurable, a
    # base of it comes from TensorFlow or Reverb.
    native = any(
        (cls.__module__ or "").startswith(("tensorflow", "reverb"))
        for cls in type(error).__mro__
    )
    if native or isinstance(error, RuntimeError):
        # TensorFlow words some causes in lower case ("... is not a directory").
        lowered = first.lower()
        if any(cause.lower() in lowered for cause in _FILESYSTEM_CAUSES):
            # "/x/y; No space left on device" -> "/x/y: No space left on device"
            return re.sub(r"; (?=[A-Z])", ": ", first)
    return None


def check_no_arguments(argv: Sequence[str]) -> None:
    """Refuses positional arguments (a flag without its dashes, a stray value)."""
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")


def require_gin_file(example: str) -> None:
    """Refuses a run without --gin_file, naming an example."""
    if not FLAGS.gin_file:
        raise UserError(f"--gin_file is required, e.g. --gin_file={example}")


def preflight() -> None:
    """What `run` checks before `main`, while a refusal costs nothing.

    * `--root_dir`, if given and an OUTPUT (see `define_common_flags`): a
      directory or creatable as one, and writable (`check_output_dir`). An
      INPUT root_dir is the binary's to check.
    * `--gin_file`s and `--gin_bindings`: the files exist and read, and they
      and the bindings parse (`check_gin`).
    """
    if "root_dir" in FLAGS and FLAGS.root_dir and _root_dir_role == OUTPUT:
        check_output_dir(FLAGS.root_dir)
    if "gin_file" in FLAGS:
        check_gin(FLAGS.gin_file, FLAGS.gin_bindings)


def check_output_dir(path: str, flag_name: str = "root_dir") -> str:
    """An output directory that exists or can be created, and can be written.

    Creates nothing. Returns the absolute path.

    Raises:
      UserError: In one line naming the path and the cause: a file where the
        directory (or one of its parents) should be, a read-only file
        system, permission denied.
    """
    if not path:
        raise UserError(f"--{flag_name} is required")
    path = os.path.abspath(os.path.expanduser(path))
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "a file" if os.path.exists(existing) else "a broken link"
        if existing == path:
            raise UserError(f"--{flag_name} {path} is {what}, not a directory")
        raise UserError(f"--{flag_name} {path}: {existing} is {what}, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(
            f"--{flag_name} {path}: cannot write in {existing}: {_why_not_writable(existing)}"
        )
    return path


def _why_not_writable(directory: str) -> str:
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    except OSError:
        pass
    return os.strerror(errno.EACCES)


def check_flag_int(name: str, minimum: int, maximum: Optional[int] = None) -> None:
    """Refuses an integer flag given out of range (an unset flag passes)."""
    from smart_control.reinforcement_learning.utils import validation

    value = FLAGS[name].value
    if value is not None:
        try:
            validation.check_int(f"--{name}", value, minimum, maximum)
        except ValueError as e:
            raise UserError(str(e)) from None


_previews = {}


def check_gin(
    gin_files: Sequence[str], gin_bindings: Sequence[str]
) -> gin_preview.GinPreview:
    """Reads gin files and bindings without importing anything they configure.

    Refuses, in one line: a file that is missing, a directory or unreadable
    (also an include), a syntax error (naming file and line, or the
    binding; an unquoted string value is said as such), and what the
    binary's `gin_checks` (see `run`) refuse. Names gin does not know are
    left to `parse_gin`.

    Returns:
      The preview: the literal values the config binds (`value()`).
    """
    key = (tuple(gin_files), tuple(gin_bindings))
    if key not in _previews:
        try:
            preview = gin_preview.preview(
                gin_files, gin_bindings, [os.path.normpath(CONFIGS_DIR)]
            )
        except gin_preview.GinInputError as e:
            raise UserError(str(e)) from None
        for check in _gin_checks:
            try:
                check(preview)
            except (OSError, ValueError) as e:
                raise UserError(user_message(e)) from e
        _previews[key] = preview
    return _previews[key]


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
    found = gin_preview.find_file(path, [os.path.normpath(CONFIGS_DIR)])
    if found is not None:
        return found
    if os.path.isdir(path):
        raise UserError(f"gin file {path} is a directory, not a file")
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
    except SyntaxError as e:
        source = e.filename or "--gin_bindings"
        raise UserError(gin_preview.syntax_message(e, source)) from e
    except tokenize.TokenError as e:
        # An unclosed bracket: ('EOF in multi-line statement', (line, column)).
        raise UserError(f"gin: {e.args[0]} (an unclosed bracket?)") from e
    except (OSError, ValueError, TypeError) as e:
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

    path = os.path.join(output_dir, OPERATIVE_CONFIG_FILE)
    json_files.write_text_atomic(path, gin.operative_config_str())
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
    global _native_log_path, _native_log_is_temporary
    if _native_log_path is None or not _native_log_is_temporary:
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


def _discard_temporary_native_log() -> None:
    """A run that never reached its outputs leaves no log file in $TMPDIR.

    (File descriptor 2 keeps writing to the unlinked file until exit; run
    with --verbosity=1 to see the C++ logs of a failing run.)
    """
    global _native_log_path, _native_log_is_temporary
    if _native_log_is_temporary and _native_log_path:
        try:
            os.remove(_native_log_path)
        except OSError:
            pass
        _native_log_path, _native_log_is_temporary = None, False


def _quiet_shutdown() -> None:
    """No logging noise after the last line the binary printed.

    Objects that TensorFlow finalises at interpreter exit (a checkpoint with
    unrestored values, say) log warnings; by then the streams the handlers
    write to may be closed, and each record would print a "--- Logging error
    ---" traceback. Late records go to file descriptor 2 (the native log
    unless --verbosity >= 1), and logging errors are not printed.
    """
    std_logging.raiseExceptions = False
    try:
        _point_absl_at(sys.__stderr__)
    except Exception:  # noqa: BLE001 - nothing may fail on the way out
        pass


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
    """Checks an output directory flag (`check_output_dir`) and creates the directory."""
    path = check_output_dir(path, flag_name)
    os.makedirs(path, exist_ok=True)
    return path
