"""Reads gin files and bindings without importing what they configure.

A binary's gin config names configurables of modules that import TensorFlow,
so gin can parse it for real only after seconds of imports. This module reads
the same files and bindings with gin's own parser but without resolving any
name (no `import` line runs, no configurable is looked up), so a binary can,
before TensorFlow loads:

  * refuse a file that does not exist or does not read, and a syntax error,
    in one line naming the file and line or the binding (an unquoted string
    value says that strings need quotes);
  * read the literal values bound to settings (`value()`), to check them
    against each other and against the flags while a refusal costs nothing.

What it cannot know (a name that no module registers, a value given as a
reference) is left to the real parse, which stays the authority: a preview
never refuses what gin would accept.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from gin import config_parser


class GinInputError(ValueError):
    """A gin file or binding that cannot be read or parsed; says which, and why."""


class Macro(NamedTuple):
    """A `%NAME` in a value."""

    name: str


class Reference(NamedTuple):
    """An `@name` or `@name()` in a value."""

    selector: str
    evaluate: bool


class _SyntaxOnly(config_parser.ParserDelegate):
    """Parses references and macros without looking anything up."""

    def configurable_reference(self, scoped_selector, evaluate):
        return Reference(scoped_selector, evaluate)

    def macro(self, name):
        return Macro(name)


class _NotLiteral:
    def __repr__(self) -> str:
        return "NOT_LITERAL"


# `GinPreview.value()` of a setting bound to something only gin can evaluate
# (a reference, a macro bound to one).
NOT_LITERAL = _NotLiteral()
_MISSING = object()
Key = Tuple[str, str, str]  # (scope, selector, arg_name); macros: ("", NAME, "")


class GinPreview:
    """The bindings of gin files and binding strings, in the order gin applies them."""

    def __init__(self) -> None:
        self.bindings: Dict[Key, Any] = {}
        self.files: List[str] = []

    def _add(self, statement: config_parser.BindingStatement) -> None:
        key = (statement.scope, statement.selector, statement.arg_name)
        self.bindings.pop(key, None)  # the last binding wins
        self.bindings[key] = statement.value

    def value(self, name: str, scope: str = "", default: Any = None) -> Any:
        """The literal bound to `name` ("Configurable.param"), as gin would see it
        when called in `scope`; `default` if unbound, `NOT_LITERAL` if bound to
        something else than a literal (a reference, an unbound macro).

        A binding in the scope wins over an unscoped one, as in gin. Macros
        bound to literals are resolved.
        """
        selector, _, arg_name = name.rpartition(".")
        for key in ((scope, selector, arg_name), ("", selector, arg_name)):
            if key in self.bindings:
                value = self._resolve(self.bindings[key])
                return NOT_LITERAL if value is _MISSING else value
        return default

    def values_of(self, selector_suffix: str, arg_name: str) -> List[Tuple[str, Any]]:
        """Every literal bound to `<...>selector_suffix.arg_name`, in any scope:
        (binding name, value)."""
        found = []
        for (scope, selector, arg), value in self.bindings.items():
            if arg != arg_name or selector.rpartition(".")[2] != selector_suffix:
                continue
            value = self._resolve(value)
            if value is not _MISSING:
                name = f"{scope + '/' if scope else ''}{selector}.{arg}"
                found.append((name, value))
        return found

    def _resolve(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, Macro):
            if depth > 10:
                return _MISSING
            return self._resolve(
                self.bindings.get(("", value.name, ""), _MISSING), depth + 1
            )
        if isinstance(value, Reference) or _holds_reference(value):
            return _MISSING
        return value


def _holds_reference(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(
            isinstance(v, (Macro, Reference)) or _holds_reference(v) for v in value
        )
    if isinstance(value, dict):
        return any(_holds_reference(v) for v in (*value.keys(), *value.values()))
    return False


def preview(
    gin_files: Sequence[str],
    bindings: Sequence[str],
    search_paths: Sequence[str] = (),
) -> GinPreview:
    """Reads `gin_files` (with their includes) and then `bindings`.

    Args:
      gin_files: Paths as given to the binary (already resolved or not).
      bindings: Binding strings as given to `--gin_bindings`.
      search_paths: Directories includes and relative files are looked up in
        after the working directory (gin's search path).

    Raises:
      GinInputError: In one line, naming the file and line or the binding.
    """
    result = GinPreview()
    for path in gin_files:
        _read_file(result, path, search_paths, including=None, depth=0)
    for binding in bindings:
        _read_binding(result, binding)
    return result


def find_file(path: str, search_paths: Sequence[str]) -> Optional[str]:
    """`path` as given, else under the first search path that has it."""
    candidates = [path] + (
        [] if os.path.isabs(path) else [os.path.join(p, path) for p in search_paths]
    )
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def _read_file(
    result: GinPreview,
    path: str,
    search_paths: Sequence[str],
    including: Optional[str],
    depth: int,
) -> None:
    where = f" (included by {including})" if including else ""
    if depth > 50:
        raise GinInputError(f"gin: includes nested too deep at {path}{where}")
    found = find_file(path, search_paths)
    if found is None:
        if os.path.isdir(path):
            raise GinInputError(f"gin file {path} is a directory, not a file{where}")
        looked = ", ".join(os.path.normpath(p) for p in search_paths)
        raise GinInputError(
            f"gin file not found: {path}{where} (looked in .{', ' if looked else ''}"
            f"{looked})"
        )
    try:
        with open(found, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GinInputError(
            f"gin file {found} is not UTF-8 text (byte {e.object[e.start]:#04x} at "
            f"offset {e.start})"
        ) from None
    except OSError as e:
        raise GinInputError(
            f"cannot read gin file {found}: {e.strerror or e}{where}"
        ) from None
    result.files.append(found)
    for statement in _parse(text, found):
        if isinstance(statement, config_parser.IncludeStatement):
            _read_file(result, statement.filename, search_paths, found, depth + 1)
        elif isinstance(statement, config_parser.BindingStatement):
            result._add(statement)


def _read_binding(result: GinPreview, binding: str) -> None:
    for statement in _parse(binding, f"--gin_bindings={binding!r}"):
        if isinstance(statement, config_parser.IncludeStatement):
            raise GinInputError(
                f"--gin_bindings={binding!r}: includes belong in a gin file "
                "(use --gin_file)"
            )
        if isinstance(statement, config_parser.BindingStatement):
            result._add(statement)


def _parse(text: str, source: str) -> List[Any]:
    try:
        return list(config_parser.ConfigParser(text, _SyntaxOnly()))
    except SyntaxError as e:
        raise GinInputError(syntax_message(e, source)) from None
    except Exception as e:  # tokenize.TokenError, ValueError from literals
        where = source if source.startswith("--") else f"gin file {source}"
        raise GinInputError(f"gin: {where}: {_first_line(e)}") from None


def syntax_message(error: SyntaxError, source: str) -> str:
    """One line saying where gin's syntax error is and what to do about it.

    `source` is "--gin_bindings=..." or a file path. gin reports an unquoted
    string value as "malformed node or string ... <ast.Name ...>" (a bare
    word) or "Unable to parse value" (a path): say that the setting's value
    needs quotes instead.
    """
    line = (error.text or "").strip()
    where = source if source.startswith("--") else f"{source}, line {error.lineno}"
    message = str(getattr(error, "msg", None) or error).split("\n")[0].strip()
    name, sep, raw = line.partition("=")
    name, raw = name.strip(), raw.strip()
    if (
        sep
        and _BAREWORD.fullmatch(raw)
        and not _NUMBER.fullmatch(raw)
        and ("malformed node or string" in message or "Unable to parse" in message)
    ):
        return (
            f"gin: {where}: the value of {name} is not a Python literal; "
            f"strings need quotes: {name} = {raw!r}"
        )
    if "malformed node or string" in message:
        message = (
            f"the value of {name or 'a setting'} is not a Python literal "
            "(strings need quotes)"
        )
    message = message.rstrip(".") or type(error).__name__
    if line and not source.startswith("--") and line not in message:
        message += f": {line}"
    return f"gin: {where}: {message}"


# A value that is neither a literal, a reference nor a macro, and looks like
# a word or a path: the user meant a string.
_BAREWORD = re.compile(r"[^\s'\"=\[\](){}@%,#]+")
_NUMBER = re.compile(r"[-+]?[\d.]+([eE][-+]?\d+)?")


def _first_line(error: BaseException) -> str:
    if error.args and isinstance(error.args[0], str):
        text = error.args[0].strip().split("\n")[0].strip()
    else:
        text = str(error).strip().split("\n")[0].strip()
    return text or type(error).__name__
