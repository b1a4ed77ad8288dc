"""Command-line plumbing shared by the entry scripts.

Run as a program (`app.run`), a script's flags are already parsed into absl's global FLAGS. Called
from Python (`main(["extract_features.py", "--input_file=...", ...])`), its flags are parsed into a
private FlagValues, so scripts that share flag names (`vocab_file`, `max_seq_length`, ...) can run in
one process.
"""
import sys
from typing import Callable, Optional, Sequence, Tuple, Union

from absl import app, flags, logging


def parse_command_line(
    argv: Optional[Sequence[str]],
    define_flags: Callable[[flags.FlagValues], None],
    global_flags: Optional[flags.FlagValues],
) -> Tuple[Optional[flags.FlagValues], Optional[str]]:
    """Returns (flag_values, None), or (None, error message) for a flag error or unexpected arguments.

    Args:
      argv: the command line, program name first (default sys.argv).
      define_flags: defines the script's flags on a FlagValues.
      global_flags: absl's FLAGS when run as a program (already parsed), else None.
    """
    argv = list(sys.argv if argv is None else argv)
    if global_flags is not None:
        flag_values, leftovers = global_flags, argv[1:]
    else:
        flag_values = flags.FlagValues()
        define_flags(flag_values)
        try:
            leftovers = flag_values(argv)[1:]
        except flags.Error as error:
            return None, str(error)
    if leftovers:
        return None, f"unexpected arguments: {' '.join(leftovers)}"
    return flag_values, None


class EntryPoint:
    """One entry script's wiring: `main(argv)` from Python, `run_as_program()` under `python script.py`.

    Args:
      program: the script's file name, the prefix of its error lines (`run_classifier.py: error: ...`).
      define_flags: defines the script's flags on a FlagValues.
      run: runs with parsed flags; returns the exit status.
      info_logging: when called from Python, log at INFO (as `app.run` does by default).
    """

    def __init__(self, program: str, define_flags: Callable[[flags.FlagValues], None],
                 run: Callable[[flags.FlagValues], int], info_logging: bool = False):
        self.program = program
        self.define_flags = define_flags
        self.run = run
        self.info_logging = info_logging
        self.uses_global_flags = False

    def error(self, message: str, code: int = 1) -> int:
        """Prints `<program>: error: <message>` to stderr; returns `code`."""
        return print_error(self.program, message, code)

    def main(self, argv: Optional[Sequence[str]] = None) -> int:
        """`argv`: the command line, program name first (default sys.argv). Returns the exit status: 2 for
        a flag error, else `run`'s."""
        global_flags = flags.FLAGS if self.uses_global_flags else None
        flag_values, message = parse_command_line(argv, self.define_flags, global_flags)
        if flag_values is None:
            return self.error(str(message), code=2)
        if self.info_logging and not self.uses_global_flags:  # app.run applies --verbosity itself
            logging.set_verbosity(logging.INFO)
        return self.run(flag_values)

    def run_as_program(self) -> None:
        """Defines the flags on absl's global FLAGS and hands over to `app.run` (which parses them)."""
        self.define_flags(flags.FLAGS)
        self.uses_global_flags = True
        app.run(self.main)


def print_error(program: str, message: str, code: int = 1) -> int:
    """Prints `<program>: error: <message>` to stderr; returns `code` (the exit status to use)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    return code


def one_line(error: Union[BaseException, str], max_lines: int = 4) -> str:
    """An error's message on one line: its first `max_lines` non-empty lines joined by "; ", and how
    many more were cut (a checkpoint error keeps its header and first mismatching variables).

    A TensorFlow `OpError` contributes its `.message` (without the traceback); an empty message gives
    the exception's type name.
    """
    if isinstance(error, BaseException):
        text = getattr(error, "message", None) or str(error)
        fallback = type(error).__name__
    else:
        text, fallback = error, "error"
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return fallback
    more = f" (and {len(lines) - max_lines} more)" if len(lines) > max_lines else ""
    return "; ".join(lines[:max_lines]) + more


class FlagDefiner:
    """Defines flags on one FlagValues with short calls: `define.string(name, default, help)`, ..."""

    def __init__(self, flag_values: flags.FlagValues):
        self.flag_values = flag_values

    def string(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_string(name, default, help_text, flag_values=self.flag_values)

    def integer(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_integer(name, default, help_text, flag_values=self.flag_values)

    def boolean(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_bool(name, default, help_text, flag_values=self.flag_values)

    def number(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_float(name, default, help_text, flag_values=self.flag_values)

    def choice(self, name: str, default, choices: Sequence[str], help_text: str) -> None:
        flags.DEFINE_enum(name, default, list(choices), help_text, flag_values=self.flag_values)

    def alias(self, name: str, original: str) -> None:
        flags.DEFINE_alias(name, original, flag_values=self.flag_values)
