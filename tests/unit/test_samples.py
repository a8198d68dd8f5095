"""The shipped sample settings stay valid as the settings change."""

from pathlib import Path

from mailserver import config

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_sample_is_valid() -> None:
    settings = config.load(ROOT / "deploy" / "mailserver.toml.sample")
    assert config.validate(settings) == []
    assert settings.smtp.submission_port == 587
