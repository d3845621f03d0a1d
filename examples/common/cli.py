"""Command-line plumbing shared by the examples: bad input is one line, exit status 2.

``Parser`` raises ``UsageError`` instead of printing usage and exiting, and
``run_main`` turns the listed exceptions into ``PROG: error: message`` on
stderr (first line only) with exit status 2, never a traceback.
"""

import argparse
import sys


class UsageError(Exception):
    """A bad flag or value; reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def doc_parser(prog, doc):
    """A ``Parser`` whose description is the first paragraph of ``doc`` and epilog the rest."""
    summary, _, details = doc.partition("\n\n")
    return Parser(prog=prog, description=summary, epilog=details,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def check_positive(cfg, names, allow_zero=()):
    """UsageError naming the flag when one of ``names`` is negative (or zero, unless allowed)."""
    for name in names:
        value = getattr(cfg, name)
        if value < 0 or (value == 0 and name not in allow_zero):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"argument {flag}: must be {'>= 0' if name in allow_zero else '> 0'}, "
                             f"got {value}")


def first_line(error):
    """The first non-empty line of an exception's message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_main(prog, body, errors=()):
    """Call ``body()``; UsageError and ``errors`` become one line on stderr and status 2."""
    try:
        body()
    except (UsageError, *errors) as error:
        print(f"{prog}: error: {first_line(error)}", file=sys.stderr)
        return 2
    return 0
