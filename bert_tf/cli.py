"""Command-line plumbing shared by the entry scripts.

Run as a program (`app.run`), a script's flags are already parsed into absl's global FLAGS. Called
from Python (`main(["extract_features.py", "--input_file=...", ...])`), its flags are parsed into a
private FlagValues, so scripts that share flag names (`vocab_file`, `max_seq_length`, ...) can run in
one process.
"""
import sys
from typing import Callable, List, Optional, Sequence, Tuple, Union

from absl import flags


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
