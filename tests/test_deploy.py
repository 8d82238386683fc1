"""The compose file and the image, checked by reading them (no container runtime in tests)."""

from pathlib import Path
from typing import Any

import yaml

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_migrations_first_then_two_gateways_and_two_workers() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "gateway", "worker"} <= set(services)
    assert services["migrate"]["command"] == ["aitopup", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["command"][:2] == ["aitopup", "serve"]
    assert "0.0.0.0" in services["gateway"]["command"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    for name in ("gateway", "worker"):
        service = services[name]
        assert service["deploy"]["replicas"] == 2
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["image"] == services["migrate"]["image"]  # one image for all


def test_compose_settings_are_real_settings() -> None:
    known = {f"AITOPUP_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "gateway", "worker"):
        env = _compose()["services"][name]["environment"]
        aitopup = {key for key in env if key.startswith("AITOPUP_")}
        assert aitopup <= known, aitopup - known
        assert env["AITOPUP_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "${AITOPUP_KEY_PEPPER:?" in env["AITOPUP_KEY_PEPPER"]  # no secret in the file


def test_the_image_is_slim_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert all("-slim" in line for line in froms)
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert lines[-1].startswith('CMD ["aitopup", "serve"')
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored
