"""The documents stay true: README.md and docs/*.md run as written.

- ``docs/configuration.md`` is exactly what ``prism_dagster.config.reference.render()`` makes
  from the models, so a model change without regenerating it fails here.
- Every ```bash, ```sh and ```python block runs, in document order, in a copy of a fresh
  ``prism-dagster demo`` working folder (one copy per document, one demo for them all), with
  the ``prism-dagster`` and ``dagster`` of this venv first on ``PATH`` and the copy's own
  ``DAGSTER_HOME``. Marks, on the line right before a fence:

  - ``<!-- not run: REASON -->``: the block is not run (a cloud account, a server that runs
    until stopped, an install); the reason is required and shown to the reader.
  - ``<!-- file: PATH -->``: the block's text is written to ``PATH`` in the folder before the
    blocks after it run.
  - ``<!-- expect exit: N -->``: the block must exit with ``N`` instead of 0.

- Every ```yaml block is YAML, and one holding a whole configuration (``source`` and
  ``integrations``, or a component's ``type`` and ``attributes``) loads as one; every ```json
  block is JSON.
- Every fence names its language, links between the documents resolve, and no user document
  cites a commit hash or an issue number.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from prism_dagster.component_scaffold import scaffold_text
from prism_dagster.config import load_config
from prism_dagster.config.loading import COMPONENT_TYPE
from prism_dagster.config.reference import render, slug

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
RUN = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python"}
BLOCK_TIMEOUT_S = 300
#: Variables of this process that would point the blocks elsewhere than their own folder.
_FOREIGN = ("PRISM_CONFIG", "PRISM_STATUS_URL", "DAGSTER_HOME", "DAGSTER_PG_HOST")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_COMMENT = re.compile(r"^\s*<!--(?P<body>.*?)-->\s*$")
_MARK = re.compile(r"^\s*(?P<kind>not run|file|expect exit):\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a document, with the marks on the lines right before it."""

    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def parse(doc: Path) -> tuple[list[Block], list[str]]:
    """The document's fenced blocks, and the headings outside them (for anchors)."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    headings: list[str] = []
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if not opened:
            if lines[index].startswith("#"):
                headings.append(lines[index].lstrip("#").strip())
            index += 1
            continue
        indent, fence = opened["indent"], opened["fence"]
        info = opened["info"].strip()
        body: list[str] = []
        end = index + 1
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while end < len(lines) and not closing.match(lines[end]):
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            end += 1
        if end == len(lines):
            raise AssertionError(f"{doc.relative_to(ROOT)}:{index + 1}: a fence never closes")
        marks = _marks(doc, lines, index)
        text = "\n".join(body) + "\n"
        blocks.append(Block(doc, index + 1, info.split()[0] if info else "", text, marks))
        index = end + 1
    return blocks, headings


def _marks(doc: Path, lines: list[str], fence: int) -> dict[str, str]:
    """The marks in the HTML comments right above line ``fence``; any other comment there is
    a mistake (a misspelt mark would silently run, or not run, a block)."""
    marks: dict[str, str] = {}
    above = fence - 1
    while above >= 0 and (comment := _COMMENT.match(lines[above])):
        mark = _MARK.match(comment["body"])
        if mark is None:
            raise AssertionError(
                f"{doc.relative_to(ROOT)}:{above + 1}: {lines[above].strip()!r} right before a "
                "fence is no mark (not run: REASON, file: PATH or expect exit: N)"
            )
        marks[mark["kind"]] = mark["value"]
        above -= 1
    return marks


def all_blocks() -> Iterator[Block]:
    for doc in DOCS:
        yield from parse(doc)[0]


# --- the generated reference ----------------------------------------------------------------


def test_configuration_reference_is_in_sync() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == render(), (
        "docs/configuration.md is not what the models say: regenerate it with "
        "`python -m prism_dagster.config.reference > docs/configuration.md`"
    )


# --- the shape of the documents -------------------------------------------------------------


def test_every_fence_names_its_language_and_every_mark_is_sound() -> None:
    problems = []
    for block in all_blocks():
        if not block.lang:
            problems.append(f"{block.where}: a fence without a language")
        if "not run" in block.marks and not block.marks["not run"]:
            problems.append(f"{block.where}: `not run` needs a reason the reader can see")
        if "not run" in block.marks and block.lang not in RUN:
            problems.append(f"{block.where}: `not run` on a {block.lang} block, which never runs")
        if "expect exit" in block.marks and not block.marks["expect exit"].isdigit():
            problems.append(f"{block.where}: `expect exit` needs a number")
        target = block.marks.get("file")
        if target is not None and (not target or Path(target).is_absolute() or ".." in target):
            problems.append(f"{block.where}: `file` needs a relative path inside the folder")
    assert not problems, "\n".join(problems)


def test_the_readme_links_every_document_and_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [d.name for d in DOCS[1:] if f"(docs/{d.name})" not in readme]
    assert not missing, f"README.md links no docs/{missing}"
    anchors = {doc: _anchors(parse(doc)[1]) for doc in DOCS}
    broken = []
    for doc in DOCS:
        text = _outside_fences(doc)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors.get(linked, set()):
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such heading")
    assert not broken, "\n".join(broken)


def _anchors(headings: list[str]) -> set[str]:
    """GitHub's anchors for a document's headings (a repeated one gets -1, -2, …)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in headings:
        base = slug(re.sub(r"`", "", heading))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def _outside_fences(doc: Path) -> str:
    """The document's text without its fenced blocks."""
    blocks, _ = parse(doc)
    lines = doc.read_text().splitlines()
    fenced: set[int] = set()
    for block in blocks:
        fenced.update(range(block.line - 1, block.line + block.text.count("\n") + 1))
    return "\n".join(line for i, line in enumerate(lines) if i not in fenced)


#: A commit hash as docs cite one: 7 to 40 hex characters alone in backticks (letters and
#: digits both, so numbers such as `1000000` are not taken for one), or after "commit".
_HASH_IN_BACKTICKS = re.compile(r"`(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}`")
_COMMIT = re.compile(r"\bcommit\s+[0-9a-f]{7,40}\b", re.IGNORECASE)
_ISSUE = re.compile(
    r"\b(?:issues?|PR|pull request|bug|ticket)\s*#?\d+\b|(?<![\w&#/])#\d+\b", re.IGNORECASE
)


def test_no_commit_hashes_or_issue_numbers_in_user_documents() -> None:
    found = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for pattern in (_HASH_IN_BACKTICKS, _COMMIT, _ISSUE):
                for match in pattern.finditer(line):
                    found.append(f"{doc.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not found, "history belongs in CHANGELOG.md and git:\n" + "\n".join(found)


def test_every_failure_cause_an_operator_sees_is_documented() -> None:
    from prism_dagster.errors import FailureCause

    text = (ROOT / "docs" / "operations.md").read_text()
    missing = sorted({c.category for c in FailureCause if f"*{c.category}*" not in text})
    assert not missing, f"docs/operations.md does not explain the causes {missing}"


# --- YAML -------------------------------------------------------------------------------------


def test_yaml_blocks_parse_and_whole_configurations_load(tmp_path: Path) -> None:
    problems, loaded = [], 0
    for number, block in enumerate(b for b in all_blocks() if b.lang in ("yaml", "yml")):
        try:
            data = yaml.safe_load(block.text)
        except yaml.YAMLError as exc:
            problems.append(f"{block.where}: not YAML: {exc}")
            continue
        if not isinstance(data, dict):
            continue
        whole = {"source", "integrations"} <= data.keys() or data.get("type") == COMPONENT_TYPE
        if not whole:
            continue
        path = tmp_path / str(number) / "defs.yaml"
        path.parent.mkdir()
        path.write_text(block.text)
        try:
            load_config(path)
            loaded += 1
        except Exception as exc:
            problems.append(f"{block.where}: does not load: {exc}")
    assert not problems, "\n".join(problems)
    assert loaded >= 5  # the README's, the scaffold, the reference's example, providers', …


def test_json_blocks_parse() -> None:
    problems = []
    for block in (b for b in all_blocks() if b.lang == "json"):
        try:
            json.loads(block.text)
        except ValueError as exc:
            problems.append(f"{block.where}: not JSON: {exc}")
    assert not problems, "\n".join(problems)


def test_the_scaffold_shown_is_what_dg_scaffold_writes() -> None:
    target = "src/my_project/defs/gateway_archive/defs.yaml"
    [block] = [b for b in all_blocks() if b.marks.get("file") == target]
    assert block.text == scaffold_text(datetime(2026, 3, 1, tzinfo=UTC))


# --- the blocks run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder after `prism-dagster demo`: ``work`` (prism.yaml, .prism/) and ``home``."""
    root = tmp_path_factory.mktemp("docs-demo")
    (root / "work").mkdir()
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [str(BIN / "prism-dagster"), "demo"],
        cwd=root / "work",
        env=_env(root / "home"),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DAGSTER_HOME"] = str(home)
    return env


def _run(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if RUN[block.lang] == "python":
        argv = [sys.executable, "-c", block.text]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.text]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_document(doc: Path, demo: Path, folder: Path) -> list[str]:
    """Run ``doc``'s blocks in order in a copy of ``demo`` at ``folder``; what failed."""
    shutil.copytree(demo, folder, symlinks=True)
    cwd, env = folder / "work", _env(folder / "home")
    failures = []
    for block in parse(doc)[0]:
        if "file" in block.marks:
            target = cwd / block.marks["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            continue
        if block.lang not in RUN or "not run" in block.marks:
            continue
        expected = int(block.marks.get("expect exit", "0"))
        done = _run(block, cwd, env)
        if done.returncode != expected:
            failures.append(
                f"{block.where}: {block.lang} block exited {done.returncode}, not {expected}\n"
                f"--- block\n{block.text}--- stdout\n{_tail(done.stdout)}\n"
                f"--- stderr\n{_tail(done.stderr)}"
            )
    return failures


@pytest.fixture(scope="module")
def document_runs(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[str]]:
    """Every document run at once, each in its own copy (the blocks are mostly start-up)."""
    root = tmp_path_factory.mktemp("docs-runs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {doc: pool.submit(run_document, doc, demo, root / doc.stem) for doc in DOCS}
        return {doc: future.result() for doc, future in futures.items()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_unmarked_block_runs_as_written(
    doc: Path, document_runs: dict[Path, list[str]]
) -> None:
    failures = document_runs[doc]
    assert not failures, "\n\n".join(failures)
