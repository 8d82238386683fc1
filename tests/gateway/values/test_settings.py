import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.values.settings import Settings

SECRETS = {"AITOPUP_KEY_PEPPER": "p" * 20, "AITOPUP_SECRET_KEY": "s" * 20}


@pytest.mark.parametrize(
    "name", ["AITOPUP_WEBHOOK_DISABLE_AFTER", "AITOPUP_WEBHOOK_DISABLE_AFTER_SECONDS"]
)
def test_disable_after_reads_the_contract_name_and_the_seconds_name(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    for key, value in {**SECRETS, name: "90"}.items():
        monkeypatch.setenv(key, value)
    assert Settings(_env_file=None).webhook_disable_after_seconds == 90


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.webhook_disable_after_seconds == 5 * 24 * 3600
    assert settings.retry_delays == [0.0, 5.0, 30.0]
    assert settings.max_topup_cents == 100_000
    assert settings.staging_initial_balance_cents == 100_000
    assert settings.allow_private_webhook_urls is False


@pytest.mark.parametrize("schedule", ["", "a,b", "-1,5"])
def test_a_bad_retry_schedule_is_refused(monkeypatch: pytest.MonkeyPatch, schedule: str) -> None:
    for key, value in {**SECRETS, "AITOPUP_WEBHOOK_RETRY_SCHEDULE": schedule}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    "command",
    [["-m", "gateway.cli", "keys", "list"], ["-m", "gateway.cli", "serve"], ["-m", "worker"]],
)
def test_a_bad_setting_at_start_is_one_plain_line(command: list[str], tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AITOPUP_KEY_PEPPER": "p" * 16,
        "AITOPUP_SECRET_KEY": "s" * 16,
        "AITOPUP_ADMIN_TOKEN": "too-short-secret",
        "AITOPUP_MAX_TOPUP_CENTS": "lots",
    }
    ran = subprocess.run(
        [sys.executable, *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode != 0
    assert ran.stdout == ""
    [line] = ran.stderr.splitlines()
    assert line.startswith("aitopup: bad setting AITOPUP_ADMIN_TOKEN: ")
    assert "AITOPUP_MAX_TOPUP_CENTS: Input should be a valid integer" in line
    assert "too-short-secret" not in line and "lots" not in line  # never the value
