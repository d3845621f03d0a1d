"""``--doc [PATH]`` for the example scripts: their table into a block of a docs/results page.

The block is written by ``benchmarks/results_page.py``, the helper every results page uses: the command line,
the machine it ran on and the table the script printed, between the page's markers for the block.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def _results_page():
    benchmarks = str(ROOT / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import results_page

    return results_page


def add_doc_argument(group, page):
    """Add ``--doc [PATH]`` (default PATH: ``page`` of docs/results) to an argparse group."""
    group.add_argument("--doc", nargs="?", const=str(RESULTS / page), default=None, metavar="PATH",
                       help=f"write the table, the command and the machine into PATH's block "
                            f"(default PATH: docs/results/{page})")


def machine_line():
    """Where this runs, with the load average now: call it before the training."""
    return _results_page().machine_line()


def write_doc(page, block, script, argv, machine, table):
    """Write ``table`` with the command (``script`` and ``argv``) and ``machine`` into ``block`` of ``page``."""
    results_page = _results_page()
    command = results_page.command_line(script, sys.argv[1:] if argv is None else argv)
    results_page.write_block(page, block, results_page.results_block(command, machine, table), script)
    print(f"wrote the {block} block of {page}", flush=True)
