"""Gin files: found as given or among the shipped configs, checked before
TensorFlow loads, parsed strictly, and the operative config written (see
binary.py).
"""

from __future__ import annotations

import os
import tokenize
from typing import Callable, Sequence

from smart_control.reinforcement_learning.utils import (
    gin_preview,
    json_files,
    run_files,
)
from smart_control.reinforcement_learning.utils.user_errors import (
    UserError,
    user_message,
)

# The gin configs shipped with the package (package data), wherever it is
# installed; a checkout also links them as configs/ at its top.
CONFIGS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "configs",
)
OPERATIVE_CONFIG_FILE = run_files.OPERATIVE_CONFIG_FILE


# Checks of a config's literal values, given to `binary.run` by the binary
# (they live in the layers that know the values: the weather files, say).
GinCheck = Callable[[gin_preview.GinPreview], None]
_gin_checks: Sequence[GinCheck] = ()


def set_gin_checks(gin_checks: Sequence[GinCheck]) -> None:
    """The checks `check_gin` runs (set by `binary.run`)."""
    global _gin_checks
    _gin_checks = tuple(gin_checks)


_previews = {}


def check_gin(
    gin_files: Sequence[str], gin_bindings: Sequence[str]
) -> gin_preview.GinPreview:
    """Reads gin files and bindings without importing anything they configure.

    Refuses, in one line: a file that is missing, a directory or unreadable
    (also an include), a syntax error (naming file and line, or the
    binding; an unquoted string value is said as such), and what the
    binary's `gin_checks` (see `binary.run`) refuse. Names gin does not know are
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
