"""deploy/k8s: every replica reads one node key from a Secret, and the node's settings point at it."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from resolver.settings import load_settings
from tests.deploy.test_deploy_files import DEPLOY, load_yaml_docs


def _docs() -> dict[str, Any]:
    return {d["kind"]: d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in load_yaml_docs(f)}


def test_node_key_comes_from_a_secret_shared_by_replicas() -> None:
    docs = _docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["node-key"]["secret"]["secretName"] == "idnode-node-key"
    assert volumes["node-key"]["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["node-key"]["readOnly"] is True
    toml = tomllib.loads(docs["ConfigMap"]["data"]["idnode.toml"])
    key_file = PurePosixPath(toml["node_key_file"])
    assert key_file.parent == PurePosixPath(mounts["node-key"]["mountPath"])
    assert key_file.name == "node.key"  # the key name `kubectl create secret --from-file=node.key=...` gives
    # The data dir (emptyDir, one per pod) no longer holds the key.
    assert not key_file.is_relative_to(PurePosixPath(toml["data_dir"]))


def test_configmap_settings_load(tmp_path: Path) -> None:
    toml_text = _docs()["ConfigMap"]["data"]["idnode.toml"]
    path = tmp_path / "idnode.toml"
    path.write_text(toml_text, encoding="utf-8")
    settings = load_settings({}, {}, path)
    assert settings.node_key_file == Path("/etc/idnode-key/node.key")


def test_workers_and_cache_fit_the_pod(tmp_path: Path) -> None:
    """One worker per requested CPU (no CPU limit: the node's own default would count the host's cores),
    and every worker's cache budget, with ~400 MB each beside it for the process, within the memory limit."""
    docs = _docs()
    path = tmp_path / "idnode.toml"
    path.write_text(docs["ConfigMap"]["data"]["idnode.toml"], encoding="utf-8")
    settings = load_settings({}, {}, path)
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    resources = container["resources"]
    assert settings.worker_count() == int(resources["requests"]["cpu"])
    limit = resources["limits"]["memory"]
    assert limit.endswith("Gi")
    per_worker = settings.cache.max_bytes + 400 * 2**20
    assert settings.worker_count() * per_worker <= int(limit[:-2]) * 2**30
