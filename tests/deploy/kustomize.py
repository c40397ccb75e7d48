"""`kustomize build`, in Python, for the parts of kustomize that deploy/k8s uses.

No kustomize binary comes from PyPI in this project's lock, so the tests build the overlays here, the
way kustomize does for what we use, and `test_kustomize.py` compares the result with
`kubectl kustomize` wherever kubectl is installed. Supported, and nothing else (anything else in a
kustomization fails the build, so a new feature cannot slip past the comparison):
- `resources`: YAML files (several documents each) and folders holding a kustomization;
- `components`: folders holding a `kind: Component` kustomization, applied after the resources;
- `patches`: strategic merge patches, inline (`patch`) or in a file (`path`), for the resources
  their `target` selects (kind, name, group, version, labelSelector `k=v,...`) or, without one, the
  resource the patch names. Built-in kinds merge lists of containers, env, volumes, mounts and
  ports by their keys; custom resources take lists whole (JSON merge patch); `null` removes a key;
- `configMapGenerator` with `files` and `options` `labels` and `disableNameSuffixHash: true` (the
  name hash is not computed here);
- `namespace`, and `images` (newName, newTag) on pod templates' containers.
Transformers run as kustomize runs them: patches first, then the namespace, then images.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "namespace",
    "images",
    "configMapGenerator",
}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
BUILT_IN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "autoscaling"}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


def build(folder: Path) -> list[Doc]:
    """The documents `kustomize build folder` prints (in no particular order)."""
    return _build(folder, "Kustomization", [])


def _kustomization(folder: Path, kind: str) -> Doc:
    k: Doc = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert k.get("kind", "Kustomization") == kind, f"{folder}: a {kind} expected"
    unknown = set(k) - KNOWN_FIELDS
    assert not unknown, f"{folder}: kustomize fields this renderer does not know: {sorted(unknown)}"
    return k


def _build(folder: Path, kind: str, docs: list[Doc]) -> list[Doc]:
    k = _kustomization(folder, kind)
    docs = list(docs)
    for resource in k.get("resources", []):
        path = folder / resource
        if path.is_dir():
            docs += _build(path, "Kustomization", [])
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for generator in k.get("configMapGenerator", []):
        docs.append(_config_map(folder, generator))
    for component in k.get("components", []):
        docs = _build(folder / component, "Component", docs)
    return _transform(k, folder, docs)


def _config_map(folder: Path, generator: Doc) -> Doc:
    options = generator.get("options") or {}
    assert set(generator) <= {"name", "files", "options"}, f"{folder}: {sorted(generator)}"
    assert set(options) <= {"labels", "disableNameSuffixHash"}, f"{folder}: {sorted(options)}"
    assert options.get("disableNameSuffixHash") is True, f"{folder}: name hashes are not computed here"
    data = {}
    for entry in generator["files"]:
        key, _, path = entry.rpartition("=")
        data[key or Path(path).name] = (folder / path).read_text()
    metadata: Doc = {"name": generator["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _transform(k: Doc, folder: Path, docs: list[Doc]) -> list[Doc]:
    docs = [copy.deepcopy(d) for d in docs]
    for entry in k.get("patches", []):
        text = entry["patch"] if "patch" in entry else (folder / entry["path"]).read_text()
        patch = yaml.safe_load(text)
        target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
        selected = [i for i, d in enumerate(docs) if _selects(target, d)]
        assert selected, f"{folder}: the patch for {target} selects nothing"
        for i in selected:
            docs[i] = _patched(docs[i], patch)
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for d in docs:
            for container in _containers(d):
                name, _, _ = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return docs


def _selects(target: Doc, doc: Doc) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    labels = doc["metadata"].get("labels") or {}
    selector = dict(
        pair.split("=", 1) for pair in (target.get("labelSelector") or "").split(",") if pair.strip()
    )
    return (
        target.get("kind", doc["kind"]) == doc["kind"]
        and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]
        and target.get("group", group) == group
        and target.get("version", version) == version
        and all(labels.get(key) == value for key, value in selector.items())
    )


def _patched(doc: Doc, patch: Doc) -> Doc:
    group = doc["apiVersion"].rpartition("/")[0]
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    body["metadata"] = {k: v for k, v in (patch.get("metadata") or {}).items() if k != "name"}
    return _merge(doc, body, strategic=group in BUILT_IN_GROUPS)  # type: ignore[no-any-return]


def _merge(base: Any, patch: Any, strategic: bool, key: str = "") -> Any:
    if isinstance(patch, dict) and isinstance(base, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = _merge(merged[name], value, strategic, name)
            else:
                merged[name] = _merge(None, value, strategic, name)
        return merged
    if isinstance(patch, list) and isinstance(base, list) and strategic and key in MERGE_KEYS:
        by = MERGE_KEYS[key]
        merged_list = list(base)
        for item in patch:
            at = next((i for i, b in enumerate(merged_list) if b.get(by) == item.get(by)), None)
            if at is None:
                merged_list.append(item)
            else:
                merged_list[at] = _merge(merged_list[at], item, strategic)
        return merged_list
    if isinstance(patch, dict):
        return _merge({}, patch, strategic, key)
    return copy.deepcopy(patch)


def _containers(doc: Doc) -> list[Doc]:
    pod = (doc.get("spec") or {}).get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]
