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
  directory, no log, nothing left in $TMPDIR. The line is worded by
  user_errors.py.
* TensorFlow's and Reverb's C++ logging is written to `<output>/logs/native.log`
  instead of the terminal, unless `--verbosity` >= 1 (native_logs.py).
* Gin: files are looked up as given, then among the configs shipped with the
  package (`smart_control/configs/`, also reachable as `configs/` in a
  checkout); unknown names are errors, and so are required settings left
  unbound. Flags that name a gin setting become bindings after the user's
  (`flag_bindings`), so the operative config records what ran; it is written
  next to the binary's outputs when it finishes (gin_configs.py).
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
        with native_logs.quiet_native_logs(output_dir):
            from smart_control... import library   # TensorFlow loads here
        gin_configs.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings + binary.flag_bindings(
            {"capacity": "ReplayBufferManager.capacity"}))
        library.do_it(...)
        gin_configs.write_operative_config(output_dir)

    def run():                      # the console script
        define_flags()
        binary.run(main)
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Callable, List, Mapping, Optional, Sequence, Union

from absl import app, flags

from smart_control.reinforcement_learning.utils import (
    gin_configs,
    native_logs,
    network_isolation,
    user_errors,
)

# The binary's public error: binaries raise `binary.UserError`.
from smart_control.reinforcement_learning.utils.user_errors import UserError

FLAGS = flags.FLAGS


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
    gin_checks: Sequence[gin_configs.GinCheck] = (),
) -> None:
    """`app.run(main)` with dash-tolerant flags, one-line user errors, and
    SIGTERM handled as Ctrl-C.

    Args:
      main: the binary's main.
      network: for a binary that starts Reverb servers, the default of its
        `--network` flag: "private" or "shared", or a function of the parsed
        flags returning one (its docstring is the flag's default in --help).
        None: no such flag.
      gin_checks: checks of the config's literal values (see
        `gin_configs.check_gin`),
        run before `main`; they raise OSError or ValueError in one line.
    """
    gin_configs.set_gin_checks(gin_checks)
    if network is not None and "network" not in FLAGS:
        _define_network_flag(network)

    def guarded_main(argv: List[str]) -> Optional[int]:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            if network is not None:
                _apply_network_flag(network)
            preflight()
            return main(argv)
        except user_errors.USER_ERRORS as e:
            return user_errors.report(e)
        except Exception as e:
            if user_errors.user_message(e) is None:
                raise
            return user_errors.report(e)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    def exit_with_code(argv: List[str]) -> None:
        try:
            code = guarded_main(argv) or 0
        finally:
            native_logs.discard_temporary_native_log()
            native_logs.quiet_shutdown()
        sys.exit(code)

    app.run(exit_with_code, flags_parser=_parse_flags)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


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
      and the bindings parse (`gin_configs.check_gin`).
    """
    if "root_dir" in FLAGS and FLAGS.root_dir and _root_dir_role == OUTPUT:
        check_output_dir(FLAGS.root_dir)
    if "gin_file" in FLAGS:
        gin_configs.check_gin(FLAGS.gin_file, FLAGS.gin_bindings)


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
