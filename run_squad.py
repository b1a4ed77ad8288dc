"""SQuAD fine-tuning with the original run_squad.py command line: not implemented yet.

The flags of the original are accepted so that old scripts fail with this message rather than a flag
error; the implementation is tracked in the issue tracker.
"""
import sys

from absl import app


def main(argv):
    del argv
    print("run_squad.py: not implemented yet in bert_tf (see the issue tracker); nothing was run.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    app.run(main)
