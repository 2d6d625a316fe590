"""The deploy files (deploy/compose.yaml, deploy/k8s/): they parse, the store stack is wired as
deploy/README.md says (PostgreSQL, a one-shot migrate-and-seed job, two replicas serving the
store with the existing health checks), the image keeps serving its baked directory by default,
and the job's script really migrates and seeds a store once (run here against SQLite).

No Docker, kubectl or kustomize is needed: the YAML is loaded and checked, the script run with
``/bin/sh`` and this checkout's ``georisk``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
STORE_SERVICES = ("postgres", "georisk-store-init", "georisk-a", "georisk-b")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _k8s(kind: str, name: str, directory: Path = K8S) -> dict[str, Any]:
    for path in sorted(directory.glob("*.yaml")):
        for d in _docs(path):
            if d.get("kind") == kind and d["metadata"]["name"] == name:
                return d
    raise AssertionError(f"no {kind} {name} in {directory}")


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _image_seed_dir() -> str:
    """Where the image holds its embedded dataset: the runtime venv of the Dockerfile, on the
    Python of its base image."""
    text = (REPO / "Dockerfile").read_text()
    py = re.findall(r"^FROM python:(\d+\.\d+)-slim", text, re.M)
    venv = re.search(r"python -m venv --without-pip (\S+)", text)
    assert py and venv
    return f"{venv.group(1)}/lib/python{py[-1]}/site-packages/georisk/data"


def test_every_deploy_yaml_parses_and_every_kustomization_resource_exists() -> None:
    assert set(_compose()["services"]) >= {"georisk", *STORE_SERVICES}
    for kdir in (K8S, K8S / "store"):
        kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
        for res in kust["resources"]:
            target = (kdir / res).resolve()
            assert target.is_file() or (target / "kustomization.yaml").is_file(), res
        for patch in kust.get("patches", []):
            assert (kdir / patch["path"]).is_file()
        assert [i["name"] for i in kust["images"]] == ["georisk"]
    for path in [*K8S.glob("*.yaml"), *(K8S / "store").glob("*.yaml")]:
        for d in _docs(path):
            assert {"apiVersion", "kind"} <= d.keys(), path
            assert d["kind"] == "Kustomization" or d["metadata"]["name"], path


def test_the_image_and_the_plain_service_still_serve_the_baked_directory() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert not re.search(r"GEORISK_(STORE|DATA)=", text)  # no store, no data directory set
    assert 'ENTRYPOINT ["georisk", "serve"]' in text
    plain = _compose()["services"]["georisk"]
    assert "profiles" not in plain and "GEORISK_STORE" not in plain["environment"]
    base = _k8s("Deployment", "georisk")
    assert "GEORISK_STORE" not in _env(base["spec"]["template"]["spec"]["containers"][0])
    assert "GEORISK_STORE" not in _k8s("ConfigMap", "georisk-config")["data"]


def test_compose_runs_postgresql_a_seed_job_and_two_replicas() -> None:
    services = _compose()["services"]
    plain = services["georisk"]
    for name in STORE_SERVICES:
        assert services[name]["profiles"] == ["store"], name  # `up` alone starts what it did
    pg = services["postgres"]
    assert pg["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "ports" not in pg  # reachable on the compose network only
    assert pg["environment"]["POSTGRES_PASSWORD"] == "${GEORISK_PG_PASSWORD:-}"  # no default
    url = "postgresql://georisk:${GEORISK_PG_PASSWORD:-}@postgres:5432/georisk"
    init = services["georisk-store-init"]
    assert init["environment"]["GEORISK_STORE"] == url
    assert init["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert init["restart"] == "no" and init["ports"] == []
    host_ports = set()
    for name in ("georisk-a", "georisk-b"):
        rep = services[name]
        assert rep["image"] == plain["image"] and rep["build"] == plain["build"]
        assert rep["environment"]["GEORISK_STORE"] == url
        assert rep["healthcheck"] == plain["healthcheck"]  # the existing health check
        assert rep["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "georisk-store-init": {"condition": "service_completed_successfully"},
        }
        assert rep["read_only"] is True and rep["user"] == plain["user"]
        for p in rep["ports"]:
            assert p.startswith("127.0.0.1:"), p  # published on the host's loopback only
            host_ports.add(p.split(":")[1])
    plain_ports = {p.split(":")[1] for p in plain["ports"]}
    assert len(host_ports) == 4 and not host_ports & plain_ports


def test_k8s_store_overlay_adds_postgresql_the_job_and_serves_the_store() -> None:
    store_dir = K8S / "store"
    kust = yaml.safe_load((store_dir / "kustomization.yaml").read_text())
    base_kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["images"] == base_kust["images"]
    selector = _k8s("Service", "georisk")["spec"]["selector"]
    sts = _k8s("StatefulSet", "georisk-postgres", store_dir)
    pg_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert _k8s("Service", "georisk-postgres", store_dir)["spec"]["selector"] == pg_labels
    pg = sts["spec"]["template"]["spec"]["containers"][0]
    assert pg["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert _env(pg)["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "georisk-postgres", "key": "password"}
    }
    job = _k8s("Job", "georisk-store-init", store_dir)
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    for labels in (pg_labels, job_labels):  # the georisk Services never route to these pods
        assert not selector.items() <= labels.items(), labels
    store_url = {"secretKeyRef": {"name": "georisk-store", "key": "url"}}
    assert _env(job["spec"]["template"]["spec"]["containers"][0])["GEORISK_STORE"] == store_url
    patch = yaml.safe_load((store_dir / "deployment-store.yaml").read_text())
    base = _k8s("Deployment", "georisk")
    assert patch["metadata"]["name"] == base["metadata"]["name"]
    assert patch["spec"]["replicas"] == 2
    (served,) = patch["spec"]["template"]["spec"]["containers"]
    assert served["name"] == base["spec"]["template"]["spec"]["containers"][0]["name"]
    assert _env(served)["GEORISK_STORE"] == store_url
    (wait,) = patch["spec"]["template"]["spec"]["initContainers"]
    assert _env(wait)["GEORISK_STORE"] == store_url
    # the base's probes (georisk health) and hardening stay: the patch does not replace them
    assert "startupProbe" not in served and "securityContext" not in served
    examples = {d["metadata"]["name"] for d in _docs(K8S / "secret.example.yaml")}
    assert {"georisk-postgres", "georisk-store"} <= examples


def _scripts() -> tuple[str, str]:
    compose = _compose()["services"]["georisk-store-init"]
    assert compose["entrypoint"] == ["/bin/sh", "-c"]
    job = _k8s("Job", "georisk-store-init", K8S / "store")
    cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[:2] == ["/bin/sh", "-c"]
    return compose["command"][0].replace("$$", "$"), cmd[2]


def test_the_seed_job_migrates_and_seeds_once(tmp_path: Path) -> None:
    compose_script, job_script = _scripts()
    assert compose_script == job_script  # one script, two places
    assert f'"${{GEORISK_SEED_DIR:-{_image_seed_dir()}}}"' in job_script
    from georisk.store import migrate, open_store

    empty, seeded = f"sqlite:///{tmp_path / 'empty.db'}", f"sqlite:///{tmp_path / 'seeded.db'}"
    migrate(seeded)
    with open_store(seeded) as store:
        before = store.init_from(REPO / "data", actor="test", reason="seeded before the job")
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "GEORISK_SEED_DIR": str(REPO / "data"),
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    # the job on an empty store and, at the same time, on one seeded already (a second run)
    procs = [
        subprocess.Popen(
            ["/bin/sh", "-c", job_script],
            env={**env, "GEORISK_STORE": url},
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for url in (empty, seeded)
    ]
    out = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], out
    with open_store(empty) as store:
        assert store.version() == before  # every record of data/, one change each
    assert f"{before} records from" in out[0], out[0]
    with open_store(seeded) as store:
        assert store.version() == before  # nothing written again
    assert "not empty, left as it is (--if-empty)" in out[1], out[1]


@pytest.mark.parametrize("path", ["compose.yaml", "k8s/store/store-init-job.yaml"])
def test_no_password_is_written_in_the_deploy_files(path: str) -> None:
    text = (DEPLOY / path).read_text()
    assert not re.search(r"postgresql://georisk:[A-Za-z0-9]+@", text), "a literal password"
