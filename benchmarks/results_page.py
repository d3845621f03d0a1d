"""The pages of docs/results/ as the scripts write them: a block between markers, and the machine it ran on.

A page is prose written by hand (what the figures mean) around blocks that a script writes::

    <!-- NAME: begin (SCRIPT writes this block) -->
    ...the command line, the machine, the tables the script printed...
    <!-- NAME: end -->

``write_block`` replaces one block and keeps the rest of the page; ``results_block`` is the usual content of a
block (command line, machine line, tables); ``machine_line`` says where a run ran. A script that runs with
``--doc [PATH]`` calls these, so no figure of a results page is typed by hand.
"""

import datetime
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def machine_line(packages=("keras", "tensorflow", "mlflow")):
    """One line on where it ran: CPU, cores, load average now (call it before the run), the versions that shape
    the numbers and the commit of keras_nos."""
    cpuinfo = Path("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if cpuinfo.exists() else platform.processor()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout

    def version(name):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} (not installed)"

    return (f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start; "
            f"Python {platform.python_version()}, {', '.join(version(name) for name in packages)}; "
            f"keras_nos at {commit.strip() or 'an unknown commit'}")


def command_line(script, argv, environment=("KERAS_BACKEND",)):
    """The command that ran ``script`` (a path relative to the repository) with ``argv``, as a user would type
    it, with the environment variables in ``environment`` that were set."""
    prefix = [f"{name}={os.environ[name]}" for name in environment if os.environ.get(name)]
    return " ".join([*prefix, "python", script, *(shlex.quote(str(arg)) for arg in argv)])


def results_block(command, machine, text, note=None):
    """A block's usual content: the command and the day it ran, the machine line, ``note`` and ``text``."""
    today = datetime.date.today().isoformat()
    return "\n".join([f"`{command}`, {today}.", "", f"Machine: {machine}.", "",
                      *([note, ""] if note else []), text.strip()])


def markers(name, script):
    """The begin and end markers of block ``name`` that ``script`` writes."""
    return f"<!-- {name}: begin ({script} writes this block) -->", f"<!-- {name}: end -->"


def write_block(page, name, text, script, title=None):
    """Replace the block ``name`` of the markdown file ``page`` with ``text``, keeping the rest of the page.

    A page that does not exist is created with ``title`` (default: the name) and the block. A page without
    one block ``name`` raises SystemExit naming the markers it needs: a block is never added to a page written
    by hand, which decides where its figures go."""
    page = Path(page)
    begin, end = markers(name, script)
    opening = f"<!-- {name}: begin "
    if not page.exists():
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"# {title or name}\n\n{begin}\n{text.strip()}\n{end}\n")
        return page
    content = page.read_text()
    start = content.find(opening)
    stop = content.find(end, start)
    if content.count(opening) != 1 or start < 0 or stop < 0:
        raise SystemExit(f"{script}: error: {page} needs one {begin} ... {end} block to rewrite")
    page.write_text(content[:start] + begin + "\n" + text.strip() + "\n" + content[stop:])
    return page


def read_block(page, name):
    """The text of block ``name`` in ``page`` (without its markers), or None when it has none."""
    content = Path(page).read_text()
    opening, end = f"<!-- {name}: begin ", f"<!-- {name}: end -->"
    if opening not in content or end not in content:
        return None
    return content.split(opening, 1)[1].split("-->", 1)[1].split(end, 1)[0].strip()


def write_results(page, name, script, argv, machine, text, title=None, note=None):
    """What a script's ``--doc`` does: the block ``name`` of ``page`` becomes the command that ran ``script``
    with ``argv`` (None: this process's), ``machine`` (its line from before the run), ``note`` and ``text``."""
    command = command_line(script, sys.argv[1:] if argv is None else argv)
    write_block(page, name, results_block(command, machine, text, note), script, title=title)
    print(f"wrote the {name} block of {page}")
