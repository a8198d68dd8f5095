"""Layering: the queue and the SMTP client sit below the servers and never import them.

The queue delivers remote mail through `mailserver.smtpclient`; the SMTP server package
`mailserver.smtp` (the aiosmtpd handlers) is above both. The imports are read from the
source (every `import` and `from ... import`, at any depth of the module, including
TYPE_CHECKING blocks) and followed through our own modules, so an indirect path
(queue -> some helper -> mailserver.smtp) fails as well as a direct one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import mailserver

ROOT = Path(mailserver.__file__).resolve().parent.parent
OUR_PACKAGES = ("mailserver", "policy")
SERVER_PACKAGE = "mailserver.smtp"
BELOW_THE_SERVERS = ("mailserver/queue", "mailserver/smtpclient")


def module_file(name: str) -> Path | None:
    """The source file of one of our modules or packages, or None if it is not ours."""
    if name.split(".")[0] not in OUR_PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def with_parents(name: str) -> Iterator[str]:
    """`a.b.c` -> `a`, `a.b`, `a.b.c`: importing a module runs its packages' __init__ too."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def imported_modules(path: Path) -> set[str]:
    """Every module the source file imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            found.update(with_parents(base))
            for alias in node.names:  # `from pkg import module` imports pkg.module
                if module_file(f"{base}.{alias.name}") is not None:
                    found.add(f"{base}.{alias.name}")
    return found


def is_server_package(name: str) -> bool:
    """Whether a module is `mailserver.smtp` or inside it (`mailserver.smtpclient` is not)."""
    return name == SERVER_PACKAGE or name.startswith(SERVER_PACKAGE + ".")


def path_to_server_package(start: str) -> list[str] | None:
    """The import chain from `start` to a module of `mailserver.smtp`, or None if none."""
    chains = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop()
        source = module_file(current)
        if source is None:
            continue
        for imported in sorted(imported_modules(source)):
            if imported in chains:
                continue
            chains[imported] = [*chains[current], imported]
            if is_server_package(imported):
                return chains[imported]
            todo.append(imported)
    return None


def modules_below_the_servers() -> list[str]:
    """The dotted names of every module of the queue and the SMTP client package."""
    files = sorted(path for top in BELOW_THE_SERVERS for path in (ROOT / top).rglob("*.py"))
    return [module_name(path) for path in files]


def test_the_queue_and_the_client_package_have_modules_to_check() -> None:
    names = modules_below_the_servers()
    assert "mailserver.queue.runner" in names
    assert "mailserver.smtpclient.client" in names


@pytest.mark.parametrize("name", modules_below_the_servers())
def test_module_below_the_servers_never_reaches_the_smtp_server_package(name: str) -> None:
    chain = path_to_server_package(name)
    assert chain is None, "imports the SMTP server package: " + " -> ".join(chain or [])


def test_the_check_finds_a_real_import_of_the_server_package() -> None:
    # serve.py starts the SMTP listeners, so it does import mailserver.smtp: the walk
    # must see that, or the test above would pass for any code.
    chain = path_to_server_package("mailserver.serve")
    assert chain is not None
    assert chain[0] == "mailserver.serve"
    assert is_server_package(chain[-1])


def test_the_client_package_is_not_mistaken_for_the_server_package() -> None:
    assert not is_server_package("mailserver.smtpclient")
    assert not is_server_package("mailserver.smtpclient.client")
    assert is_server_package("mailserver.smtp")
    assert is_server_package("mailserver.smtp.outbound")
