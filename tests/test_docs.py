"""The README and docs/ stay short and their relative links lead somewhere."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _links(page):
    return LINK.findall(FENCE.sub("", page.read_text()))


def _anchors(page):
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", FENCE.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_sees_links():
    assert "docs/mlflow_runs.png" in _links(ROOT / "README.md")
    assert "docs/architecture.md" in _links(ROOT / "README.md")


def test_readme_is_short_and_keeps_what_ci_and_newcomers_need():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    assert 'pip install -e ".[test]" && python -m pytest -q' in text  # what .ci/run runs
    assert 'pip install -e ".[test]" && python -m pytest -q' in (ROOT / ".ci" / "run").read_text()
    assert "pip install -e . && keras-nos search" in text
    assert "### The main job" in text
    assert "](docs/mlflow_runs.png)" in text and "](docs/mlflow_charts.png)" in text
    assert (ROOT / "docs" / "architecture.md").exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_source_path_named_in_the_docs_exists(page):
    named = re.findall(r"`((?:keras_nos|benchmarks|examples|tests|docs)/[\w/.-]*\.(?:py|sh|md))`", page.read_text())
    named += re.findall(r"(?<![\w/])((?:keras_nos|benchmarks|examples)/[\w/.-]*\.py)\b", page.read_text())
    missing = sorted({path for path in named if not (ROOT / path).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_readme_quotes_the_main_job_page_that_benchmarks_main_job_writes():
    """The README's main-job block is the block of docs/results/main-job.md: no figure of it is typed by hand."""
    begin, end = "<!-- main-job: begin (benchmarks/main_job.py writes this block) -->", "<!-- main-job: end -->"
    readme = (ROOT / "README.md").read_text()
    assert begin in readme and end in readme
    block = readme.split(begin)[1].split(end)[0].strip()
    table = [line for line in block.splitlines() if line.startswith("| ")]
    assert len(table) >= 4, "the main-job block holds the leaderboard table"
    assert block in (ROOT / "docs" / "results" / "main-job.md").read_text()
