"""The spec-refresh workflow: its structure, and its steps run as written against loopback pages.

GitHub Actions cannot run here, so the refresh job's ``run:`` scripts are taken
from the YAML and run with bash in a project copy, with ``RUNNER_TEMP`` and
``GITHUB_OUTPUT`` as the runner sets them. Only ``make`` is replaced (by a stub
that records its arguments): the real ``make test`` is the whole CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_site import ROOT, Site, page, project_and_site

WORKFLOW = ROOT / ".github" / "workflows" / "spec-refresh.yml"
BATCH = "polymarket_us/cancel-multiple-orders.yaml"


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(WORKFLOW.read_text(), Loader=yaml.BaseLoader)
    return data


def test_every_action_is_pinned_by_commit_sha_with_its_version() -> None:
    uses = [line.strip() for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert len(uses) == 6
    for line in uses:
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_least_privilege_split() -> None:
    data = workflow()
    assert data["permissions"] == {}  # nothing unless a job asks
    assert data["concurrency"]["group"] == "spec-refresh"
    refresh, pull = data["jobs"]["refresh"], data["jobs"]["pull-request"]
    assert refresh["permissions"] == {"contents": "read"}
    assert pull["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert pull["needs"] == "refresh"
    for job in (refresh, pull):
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["persist-credentials"] == "false"
    # The job with the write token installs and runs nothing from the project.
    for step in pull["steps"]:
        script = step.get("run", "")
        assert not re.search(r"\b(make|pip|python3?|npm|\.venv|scripts/)\b", script), script
    # No expression is expanded inside a script (the runner would paste its text in).
    for job in (refresh, pull):
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step


def _script(step_id_or_name: str) -> str:
    for step in workflow()["jobs"]["refresh"]["steps"]:
        if step_id_or_name in (step.get("id"), step.get("name")):
            return str(step["run"])
    raise KeyError(step_id_or_name)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[Path, Site, dict[str, str], Path, dict[str, str]]]:
    """A project copy whose specs/sources.yaml points at a loopback site, and the runner's env."""
    for project, site, sources, routes in project_and_site(tmp_path):
        (project / "specs" / "sources.yaml").write_bytes(sources.read_bytes())
        stub = tmp_path / "bin"
        stub.mkdir()
        (stub / "make").write_text('#!/bin/sh\necho "make $*" >> "$MAKE_LOG"\necho stub passed\n')
        (stub / "make").chmod(0o755)
        temp = tmp_path / "runner-temp"
        temp.mkdir()
        env = {
            **os.environ,
            "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(tmp_path / "github-output"),
            "MAKE_LOG": str(tmp_path / "make.log"),
            "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache"),
        }
        Path(env["GITHUB_OUTPUT"]).write_text("")
        yield project, site, routes, temp, env


def _run(script: str, project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_pages_are_fetched_once_and_exactly_those_bytes_are_applied(
    runner: tuple[Path, Site, dict[str, str], Path, dict[str, str]],
) -> None:
    project, site, routes, temp, env = runner
    block = (project / "specs" / BATCH).read_bytes()
    text_only = block.replace(b"in a single request.", b"in one request.", 1)
    raised = block.replace(b"maxItems: 20", b"maxItems: 500", 1)
    assert text_only != block
    assert raised != block
    # The page changes between two fetches: the report must describe what is committed.
    site.routes[routes[BATCH]] = site.sequence(page(text_only, BATCH), page(raised, BATCH))

    fetched = _run(_script("refresh"), project, env)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "changed=true" in Path(env["GITHUB_OUTPUT"]).read_text()
    lines = fetched.stdout.splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token), lines[0]
    assert lines[-1] == f"::{token}::"  # the report sat between the markers

    applied = _run(
        _script("Apply exactly the fetched bytes and test the regenerated tree"), project, env
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert site.hits[routes[BATCH]] == 1  # one fetch
    assert (project / "specs" / BATCH).read_bytes() == text_only
    record = json.loads((project / "specs" / "refreshed.json").read_text())
    assert record[BATCH]["url"] == site.url(routes[BATCH])  # where the one fetch read it
    pr = temp / "spec-refresh" / "pr"
    assert (pr / "specs" / BATCH).read_bytes() == text_only
    assert b"maxItems: 500" not in (pr / "specs" / BATCH).read_bytes()
    assert (pr / "generated" / "polymarket_us_api" / "constraints.py").is_file()
    body = (pr / "body.md").read_text()
    assert body.startswith((temp / "spec-refresh" / "fetched" / "report.md").read_text())
    assert "## make test on the regenerated tree\n\npassed" in body
    assert Path(env["MAKE_LOG"]).read_text() == "make test\n"


def test_a_crash_is_not_a_change(
    runner: tuple[Path, Site, dict[str, str], Path, dict[str, str]],
) -> None:
    project, _, _, _, env = runner
    # Exit 1 is "changed" only with a report that says so; a traceback is not one.
    (project / "scripts" / "refresh.py").write_text("raise RuntimeError('boom')\n")
    result = _run(_script("refresh"), project, env)
    assert result.returncode == 2
    assert "changed=true" not in Path(env["GITHUB_OUTPUT"]).read_text()
    assert "refresh failed (exit 1); nothing applied" in result.stderr
