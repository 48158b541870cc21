"""The README's examples run, and do what they say.

Every ```python block runs as a script of its own, and every ``posefast ...`` line of the
```bash blocks runs through bash, in a scratch folder that has ``../shared`` beside it (as a
checkout has) with ``POSEFAST_MODEL_PATH`` pointing at the shared models. The README's first
command starts with the install (``pip install ".[all,test]" && ...``): CI's ``.ci/run`` runs
that install itself, so only the part after ``&&`` runs here; ``python -m pytest`` is this test
run and is skipped. ```text blocks (synopses) are not run, nor a block preceded by
``<!-- readme-test: skip (reason) -->``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from _shared import REPO, _need

README = REPO / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b")


def blocks() -> list[tuple[str, int, str]]:
    """(language, first line number, code) of every fenced block not marked skip."""
    out, lang, start, body, skip_next = [], None, 0, [], False
    for no, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if lang is None:
            if m:
                lang, start, body = m.group(1) or "", no + 1, []
                if skip_next:
                    lang = "skip"
                skip_next = False
            elif line.strip():
                skip_next = bool(_SKIP.search(line))
        elif m and not m.group(1):
            out.append((lang, start, "\n".join(body) + "\n"))
            lang = None
        else:
            body.append(line)
    return out


def bash_commands(code: str) -> list[str]:
    """The ``posefast`` commands of a bash block (continuations joined, the install left to CI)."""
    cmds = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not re.match(r"^(pip|python -m pip) install\b", p)]
        for p in parts:
            words = shlex.split(p)
            names = [w for w in words if "=" not in w or w.startswith("-")]
            if names and names[0] == "posefast":
                cmds.append(p)
    return cmds


PYTHON = [(f"README.md:{no}", code) for lang, no, code in blocks() if lang == "python"]
BASH = [(f"README.md:{no}", cmd) for lang, no, code in blocks() if lang in ("bash", "sh", "shell")
        for cmd in bash_commands(code)]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, shared_models, media) -> tuple[Path, dict]:
    """A folder ``work`` with ``../shared`` beside it, a ``posefast`` command on PATH, the env."""
    root = tmp_path_factory.mktemp("readme")
    (root / "shared").symlink_to(media.parent.resolve())
    work = root / "work"
    work.mkdir()
    bin_dir = root / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "posefast"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m posefast.cli "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, POSEFAST_MODEL_PATH=str(shared_models.resolve()),
               PATH=os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    _need(root / "shared" / "data" / "coco_mini" / "images", "../shared/data/coco_mini")
    return work, env


def test_readme_has_examples():
    assert len(PYTHON) >= 2 and len(BASH) >= 3, (PYTHON, BASH)
    assert any("pip install" in code for lang, _, code in blocks() if lang == "bash")


@pytest.mark.model
@pytest.mark.parametrize("where, code", PYTHON, ids=[w for w, _ in PYTHON])
def test_python_example_runs(where, code, scratch):
    work, env = scratch
    script = work / f"example_{where.split(':')[1]}.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{where} failed:\n{code}\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.model
@pytest.mark.parametrize("where, cmd", BASH, ids=[f"{w}:{c.split()[1] if len(c.split()) > 1 else c}"
                                                   for w, c in BASH])
def test_bash_example_runs(where, cmd, scratch):
    work, env = scratch
    proc = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{where} failed: {cmd}\n{proc.stdout}\n{proc.stderr}"
    words = shlex.split(cmd)
    if "--output-dir" in words:                # many inputs: the --write-* names are inside DIR/<input>/
        out_dir = work / words[words.index("--output-dir") + 1]
        assert out_dir.is_dir() and (out_dir / "summary.csv").is_file(), f"{where}: no {out_dir}/summary.csv"
        return
    for opt, value in zip(words, words[1:]):   # every output the example names was written
        if opt.startswith("--write-") and not opt.endswith(("-fps", "-format")) or opt in ("-o", "--output"):
            out = work / value
            assert out.exists(), f"{where}: {cmd} did not write {value}"
            assert out.stat().st_size > 0 if out.is_file() else any(out.iterdir()), f"{where}: {value} is empty"
