"""[counters] settings: what check-config refuses, and which implementation each choice builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver import config
from mailserver.app import open_counters
from mailserver.cli import main
from mailserver.counters.fallback import FallbackCounters
from mailserver.counters.memory import MemoryCounters
from mailserver.counters.redis_counters import RedisCounters


def load(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "m.toml"
    path.write_text("[counters]\n" + text)
    return config.load(path, base=tmp_path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('backend = "memcached"\n', "counters.backend"),
        ('on_redis_down = "open"\n', "counters.on_redis_down"),
        ('max_keys = "many"\n', "counters.max_keys"),
    ],
)
def test_load_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(config.ConfigError) as error:
        load(tmp_path, text)
    assert error.value.key == key


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("max_keys = 0\n", "counters.max_keys", "at least 1"),
        ("redis_timeout_seconds = 0\n", "counters.redis_timeout_seconds", "positive"),
        ('backend = "redis"\nredis_url = "http://r:6379"\n', "counters.redis_url", "redis://"),
        ('backend = "redis"\nredis_url = "redis://[::1"\n', "counters.redis_url", "redis://"),
        (
            'backend = "redis"\nredis_url = "redis://:s3cret@r:6379/0"\n',
            "counters.redis_url",
            "redis_password_file",
        ),
    ],
)
def test_validate_names_the_key(tmp_path: Path, text: str, key: str, says: str) -> None:
    errors = config.validate(load(tmp_path, text))
    assert [e.key for e in errors] == [key]
    assert says in errors[0].message


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://redis.bangkok.go.th:6380/1", "unix:///r.sock"]
)
def test_redis_urls_are_valid(tmp_path: Path, url: str) -> None:
    assert config.validate(load(tmp_path, f'backend = "redis"\nredis_url = "{url}"\n')) == []


def test_check_config_reports_a_bad_counters_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[counters]\nbackend = "redis"\nredis_url = "localhost:6379"\n')
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "counters.redis_url" in err and "Traceback" not in err


def test_check_config_wants_the_redis_password_file_to_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[counters]\nbackend = "redis"\nredis_password_file = "no/pw"\n')
    assert main(["check-config", str(path)]) == 1
    assert "counters.redis_password_file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", MemoryCounters),
        ('backend = "redis"\n', RedisCounters),
        ('backend = "redis"\non_redis_down = "fail_closed"\n', RedisCounters),
        ('backend = "redis"\non_redis_down = "local"\n', FallbackCounters),
    ],
)
async def test_each_choice_builds_its_counters(tmp_path: Path, text: str, kind: type) -> None:
    counters = open_counters(load(tmp_path, text + 'key_prefix = "bkk:"\nmax_keys = 7\n'))
    assert type(counters) is kind
    if isinstance(counters, FallbackCounters):
        assert isinstance(counters.primary, RedisCounters)
        assert isinstance(counters.local, MemoryCounters) and counters.local.max_keys == 7
    if isinstance(counters, RedisCounters):
        assert counters.key_prefix == "bkk:"
    if isinstance(counters, MemoryCounters):
        assert counters.max_keys == 7
    await counters.close()
