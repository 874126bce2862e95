"""The README and docs/*.md: every relative link and image points at something that exists.

Links are markdown's `[text](target)` and `![alt](target)` (and `[label]: target` definitions);
a `#anchor` must be a heading of the target with GitHub's slug. Repository paths written in
backticks (`explorer/jobs/registry.py`) must exist too, so a moved module cannot leave the docs
behind (placeholders such as `pages/<N>_<Title>.py` and sections headed "Example..." are left
out). The README stays short (its details live in docs/), and each of docs/ is there.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 300
REQUIRED_DOCS = ("architecture.md", "hosting.md", "benchmarks.md", "bad-input.md", "testing.md",
                 "pages.md")
MARKDOWN_FILES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...
# Repository paths in backticks: these top-level folders, no wildcards or placeholders.
REPO_PATH = re.compile(r"^(?:explorer|pages|tests|benchmarks|deploy|assets|docs|\.streamlit|\.ci)/"
                       r"[\w./-]*$")
GENERATED = {  # paths the docs name that only exist once something has run (git-ignored)
    "tests/artifacts/", "benchmarks/results/", "deploy/.cookie-secret",
}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines outside fenced code blocks, with their numbers."""
    lines, fence = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * 3
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = INLINE_CODE.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits, _ (Unicode too)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor, with GitHub's -1, -2 ... for repeated ones."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image, inline code left out."""
    found = []
    for number, line in prose_lines(path):
        text = INLINE_CODE.sub(lambda m: "code", line)
        for match in INLINE_LINK.finditer(text):
            found.append((number, match.group(1).strip("<>")))
        definition = DEFINITION.match(text)
        if definition:
            found.append((number, definition.group(1).strip("<>")))
    return found


def code_paths(path: Path) -> list[tuple[int, str]]:
    """(line, path) of every repository path written in backticks, except in a section whose
    heading starts with "Example" (a worked example names files that do not exist yet)."""
    found, in_example = [], False
    for number, line in prose_lines(path):
        heading = HEADING.match(line)
        if heading:
            in_example = heading.group(2).startswith("Example")
        if in_example:
            continue
        for match in INLINE_CODE.finditer(line):
            candidate = match.group(2).strip()
            if REPO_PATH.match(candidate) and candidate not in GENERATED:
                found.append((number, candidate))
    return found


def problems_of(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the links and backticked paths of one markdown file under root."""
    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        where = f"{path.relative_to(root).as_posix()}:{number}: {target}"
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{where}: no such file")
        elif linked != root and root not in linked.parents:
            problems.append(f"{where}: outside the repository")
        elif anchor and linked.suffix == ".md" and unquote(anchor).lower() not in anchors(linked):
            problems.append(f"{where}: no heading #{anchor} in {linked.relative_to(root)}")
    for number, candidate in code_paths(path):
        if not (root / candidate).exists():
            problems.append(f"{path.relative_to(root).as_posix()}:{number}: `{candidate}` "
                            "does not exist")
    return problems


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=rel)
def test_every_relative_link_and_anchor_exists(path: Path) -> None:
    problems = problems_of(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", REQUIRED_DOCS)
def test_each_doc_exists_and_the_readme_links_it(name: str) -> None:
    doc = DOCS / name
    assert doc.is_file(), f"docs/{name} is missing"
    assert HEADING.match(doc.read_text(encoding="utf-8").splitlines()[0]), f"docs/{name}: no title"
    assert f"docs/{name}" in {target.partition("#")[0] for _, target in links(README)}


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move details to docs/")


def test_readme_keeps_its_screenshots() -> None:
    images = [target for _, target in links(README) if target.startswith("assets/screenshots/")]
    assert len(images) >= 10
    assert all((ROOT / target).is_file() for target in images)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Which way imports go", "which-way-imports-go"),
        ("The lecture's ablation", "the-lectures-ablation"),
        ("0. Lecture", "0-lecture"),
        ("`make run` and `make test`", "make-run-and-make-test"),
        ("50 students, one small server (2 cores)", "50-students-one-small-server-2-cores"),
        ("A [link](x.md) in it", "a-link-in-it"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "explorer").mkdir()
    (tmp_path / "explorer" / "real.py").write_text("")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Other page\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Title\n\n"
        "[ok](#title) [gone](#nowhere) [file](no_such_file.md) [web](https://example.org/x)\n"
        "[other](other.md#other-page-1) [other, wrong](other.md#missing) ![pic](../gone.png)\n"
        "```\n# not a heading\n[in a fence](ignored.md)\n```\n"
        "`[in code](ignored.md)` `explorer/real.py` `explorer/gone.py` `explorer/*.py`\n"
        "[up and out](../../outside.md)\n[label]: other.md#nope\n"
        "## Example: a new room\n`explorer/new_room/job.py` [but links count](new.md)\n",
        encoding="utf-8")
    assert anchors(page) == {"title", "example-a-new-room"}
    assert anchors(tmp_path / "docs" / "other.md") == {"other-page", "other-page-1"}
    problems = problems_of(page, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "#nowhere: no heading #nowhere in docs/page.md",
        "no_such_file.md: no such file",
        "other.md#missing: no heading #missing in docs/other.md",
        "../gone.png: no such file",
        "../../outside.md: no such file",
        "other.md#nope: no heading #nope in docs/other.md",
        "new.md: no such file",
        "`explorer/gone.py` does not exist",
    ]
