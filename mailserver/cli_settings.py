"""The settings an administrative command works on, said out loud, and never a new empty store.

Run from the wrong directory, a command used to find no settings, fall back to the
defaults, create an empty ./var and answer "no accounts", "0 messages": a silent,
wrong success. Now every administrative command (account, queue, logs, export,
lifecycle) goes through `admin_settings`:

- it finds the settings as `config_source` says (--config, $MAILSERVER_CONFIG,
  ./mailserver.toml, /etc/mailserver/mailserver.toml, built-in defaults);
- unless `--config` named the file, it says on stderr (one line, stdout stays for
  scripts) which settings file and data directory it uses;
- it refuses, naming both, when the data directory does not exist, except for the
  commands that add accounts to a new installation (`account add`, `account
  import-ldif`), which create it and say so. `serve` creates it as it always did.

`invocation` gives the command line that reaches the same settings again, for the
hints `serve` prints ("add the first account: .venv/bin/mailserver account add ...").
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from mailserver import config, private
from mailserver.cli_errors import CliError, notice
from mailserver.config_source import ENV_VAR, Origin, SettingsSource, find_settings


def settings_source(args: argparse.Namespace) -> SettingsSource:
    """Where this command's settings come from (`--config`, the environment, a file, defaults)."""
    return find_settings(getattr(args, "config", None), os.environ, Path.cwd())


def admin_settings(args: argparse.Namespace, *, may_create: bool = False) -> config.Settings:
    """The valid settings of an administrative command whose data directory exists.

    Raises CliError when the data directory is missing, unless `may_create` (a command
    adding the first accounts), which creates it and says so on stderr.
    """
    source = settings_source(args)
    try:
        settings = config.load_valid(source.path)
    except config.ConfigError as exc:
        if source.origin is Origin.OPTION:
            raise
        # Not named on this command line: say where it came from ($MAILSERVER_CONFIG
        # set in a profile long ago, a mailserver.toml in this directory).
        raise CliError(f"{exc} (settings: {source.describe()})") from None
    data_dir = settings.data_dir
    used = source.describe()
    if data_dir.is_dir():
        if source.origin is not Origin.OPTION:
            notice(f"using {used}; data directory {data_dir}")
        return settings
    if data_dir.exists():
        raise CliError(f"the data directory {data_dir} is not a directory; settings: {used}")
    if not may_create:
        raise CliError(
            f"the data directory {data_dir} does not exist; settings: {used}."
            f" Run this where the server runs, or name its settings with --config FILE or"
            f" {ENV_VAR}; `mailserver serve` or the first `account add` creates it"
        )
    notice(f"using {used}; creating the data directory {data_dir}")
    private.make_dirs(data_dir)
    return settings


def invocation(
    config_option: Path | None,
    *,
    argv0: str,
    module: str | None,
    executable: str,
    cwd: Path,
) -> str:
    """The shell words that run this program again from `cwd` with the same `--config`.

    `argv0` as the program was started (`.venv/bin/mailserver`, `/usr/bin/mailserver`),
    or, when it ran as `python -m MODULE`, the interpreter and `-m MODULE`. A path under
    `cwd` is given relative to it, as the README's commands are.
    """
    words = [_near(executable, cwd), "-m", module] if module else [_near(argv0, cwd)]
    if config_option is not None:
        words += ["--config", str(config_option)]
    return shlex.join(words)


def _near(program: str, cwd: Path) -> str:
    """`program` relative to `cwd` when it lies below it; as given otherwise."""
    if os.sep not in program:
        return program  # found on PATH: the same name works again
    absolute = Path(os.path.abspath(cwd / program))
    try:
        relative = absolute.relative_to(cwd)
    except ValueError:
        return str(absolute)
    text = str(relative)
    return text if os.sep in text else f".{os.sep}{text}"
