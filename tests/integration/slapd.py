"""A real OpenLDAP slapd on a free loopback port, with our schema, in a temp directory.

    from tests.integration.slapd import Slapd, slapd  # noqa: F401 (fixture)

    def test_something(slapd: Slapd) -> None:
        slapd.add_ldif(Path("deploy/ldap/sample.ldif").read_text())

The configuration is a cn=config tree built with `slapadd -n0` (never the
system's /etc/ldap/slapd.d): one mdb database for dc=bangkok,dc=go,dc=th whose
root DN is `cn=admin`, the core/cosine/inetorgperson/nis schemas and
deploy/ldap/mailserver.ldif. The base entry exists; everything else the test adds.
Passwords may be read only for binding (`by anonymous auth`); the rest is
readable by anyone, like a typical organisation directory.

`make_slapd(root, tls=make_ca(...).issue(...))` (tests/integration/ldap_certs.py)
also serves TLS: StartTLS on `url` and implicit TLS on `ldaps_url`; the `tls_slapd`
fixture is one. `make_slapd(root, mailserver_schema=False)` is a directory without
our schema. `make_slapd_conf(root)` configures the older way instead: a slapd.conf
that includes the .schema files (deploy/ldap/mailserver.schema for ours).
`directory_settings` configures a mailserver for StartTLS when the slapd serves TLS,
else for cleartext on loopback (`ldap_allow_cleartext`).
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import end_process, free_port, require_tool
from tests.integration.ldap_certs import ServerFiles, make_ca
from tests.waiting import accepts_connections, wait_until

BASE = "dc=bangkok,dc=go,dc=th"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "slapd-admin-secret"
SCHEMA_DIR = Path("/etc/ldap/schema")
SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
DEPLOY_LDAP = Path(__file__).resolve().parents[2] / "deploy" / "ldap"
OUR_SCHEMA = DEPLOY_LDAP / "mailserver.ldif"
OUR_SCHEMA_CONF = DEPLOY_LDAP / "mailserver.schema"  # the same schema, slapd.conf form
MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap")
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
START_TIMEOUT = 10.0
# The database's olcAccess rules unless make_slapd(access=...) replaces them.
DEFAULT_ACCESS = (
    "to attrs=userPassword by self write by anonymous auth by * none",
    "to * by * read",
)
# With make_slapd(ppolicy=True): the ppolicy overlay and its default policy entry.
POLICY_DN = f"cn=default,ou=policies,{BASE}"
PPOLICY_OVERLAY = f"""
dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {POLICY_DN}
olcPPolicyUseLockout: TRUE
"""
POLICY_ENTRIES = f"""
dn: ou=policies,{BASE}
objectClass: organizationalUnit
ou: policies

dn: {POLICY_DN}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 5
pwdLockoutDuration: 300
"""

BASE_ENTRY = f"""\
dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: bangkok
o: Bangkok Metropolitan Administration
"""


def _tool(name: str) -> str:
    """slapd and slapadd live in /usr/sbin, often not on PATH."""
    for directory in SBIN:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return require_tool(name)


def _config_ldif(
    root: Path,
    admin_hash: str,
    modules: tuple[str, ...] = (),
    *,
    extra_schemas: tuple[Path, ...] = (),
    overlays: str = "",
    access: tuple[str, ...] | None = None,
    mailserver_schema: bool = True,
) -> str:
    module_dir = next((d for d in MODULE_DIRS if Path(d, "back_mdb.la").exists()), None)
    extra = "".join(f"olcModuleLoad: {name}\n" for name in modules)  # e.g. "argon2"
    module = (
        f"dn: cn=module{{0}},cn=config\nobjectClass: olcModuleList\ncn: module{{0}}\n"
        f"olcModulePath: {module_dir}\nolcModuleLoad: back_mdb\n{extra}\n"
        if module_dir
        else ""
    )
    schemas = "\n".join(
        (SCHEMA_DIR / f"{name}.ldif").read_text().strip() + "\n" for name in SYSTEM_SCHEMAS
    )
    ours = OUR_SCHEMA.read_text().strip() + "\n" if mailserver_schema else ""
    ours += "".join("\n" + path.read_text().strip() + "\n" for path in extra_schemas)
    rules = access if access is not None else DEFAULT_ACCESS
    acl = "".join(f"olcAccess: {{{i}}}{rule}\n" for i, rule in enumerate(rules))
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
olcLogLevel: none

{module}dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}
{ours}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {root}/db
olcDbMaxSize: 104857600
olcSuffix: {BASE}
olcRootDN: {ADMIN_DN}
olcRootPW: {admin_hash}
olcDbIndex: objectClass eq
olcDbIndex: {"mail,mailAlternateAddress" if mailserver_schema else "mail"} eq
olcDbIndex: modifyTimestamp,entryCSN eq
{acl}{overlays}"""


@dataclass
class Slapd:
    """A running slapd: `url`, `base`, the root DN and password, and LDIF loading."""

    root: Path
    port: int
    base: str = BASE
    admin_dn: str = ADMIN_DN
    admin_password: str = ADMIN_PASSWORD
    tls_port: int | None = None  # the ldaps:// listener of make_slapd(tls=...)
    config_file: Path | None = None  # a slapd.conf (make_slapd_conf) instead of slapd.d
    ca_file: Path | None = None  # the CA that issued its certificate, with tls=...
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "slapd.log"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}/"

    @property
    def ldaps_url(self) -> str:
        if self.tls_port is None:
            raise ValueError("this slapd was made without tls=")
        return f"ldaps://127.0.0.1:{self.tls_port}/"

    def _listen(self) -> str:
        return f"{self.url} {self.ldaps_url}" if self.tls_port is not None else self.url

    def start(self) -> None:
        """Start slapd and wait until it accepts connections (pytest.fail if it does not)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    _tool("slapd"),
                    "-d",
                    "0",
                    "-h",
                    self._listen(),
                    *self.config_options(),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        process = self.process

        def answering() -> bool:
            if process.poll() is not None:
                pytest.fail(f"slapd exited with {process.returncode}: {self._log_tail()}")
            return accepts_connections(self.port) and self._whoami()

        try:
            wait_until(answering, START_TIMEOUT, 0.05, what="slapd to answer")
        except AssertionError:
            self.stop()
            pytest.fail(f"slapd did not answer within {START_TIMEOUT}s: {self._log_tail()}")

    def config_options(self) -> list[str]:
        """slapd's and slapadd's options naming the configuration."""
        if self.config_file is not None:
            return ["-f", str(self.config_file)]
        return ["-F", str(self.root / "slapd.d")]

    def stop(self) -> None:
        """Stop slapd (SIGTERM, then SIGKILL) and wait until the port is closed."""
        if self.process is None:
            return
        end_process(self.process)
        self.process = None

    def _whoami(self) -> bool:
        result = subprocess.run(
            [require_tool("ldapwhoami"), "-x", "-H", self.url, *self._admin()],
            capture_output=True,
            timeout=5,
        )
        return result.returncode == 0

    def _admin(self) -> list[str]:
        return ["-D", self.admin_dn, "-w", self.admin_password]

    def can_bind(self, dn: str, password: str) -> bool:
        """A plain simple bind with the real ldapwhoami, as any other system would do."""
        result = subprocess.run(
            [require_tool("ldapwhoami"), "-x", "-H", self.url, "-D", dn, "-w", password],
            capture_output=True,
            timeout=10,
        )
        return result.returncode == 0

    def directory_settings(self, secret_dir: Path, **extra: object) -> dict[str, object]:
        """The `[directory]` settings of a mailserver on this slapd, bound as the root DN
        (its password written to a file in `secret_dir`); `extra` adds or overrides keys.

        StartTLS, verified against the slapd's CA, when it serves TLS; otherwise
        cleartext, which the server accepts only with `ldap_allow_cleartext` (the slapd
        is on loopback, the one place that setting is meant for)."""
        secret = secret_dir / "ldap-password"
        secret.write_text(self.admin_password + "\n")
        transport: dict[str, object] = {"ldap_allow_cleartext": True}
        if self.ca_file is not None:
            transport = {"ldap_start_tls": True, "ldap_ca_file": str(self.ca_file)}
        return {
            "backend": "ldap",
            "ldap_urls": [self.url],
            "ldap_base": self.base,
            "ldap_bind_dn": self.admin_dn,
            "ldap_bind_password_file": str(secret),
            **transport,
            **extra,
        }

    def add_ldif(self, ldif: str) -> None:
        """Add the entries of `ldif` as the root DN (pytest.fail with ldapadd's message)."""
        self._ldap_tool("ldapadd", ldif)

    def modify_ldif(self, ldif: str) -> None:
        """Apply an LDIF of changes (changetype: modify / delete / ...) as the root DN."""
        self._ldap_tool("ldapmodify", ldif)

    def _ldap_tool(self, name: str, ldif: str) -> None:
        result = subprocess.run(
            [require_tool(name), "-x", "-H", self.url, *self._admin()],
            input=ldif.encode(),
            capture_output=True,
            timeout=30,
        )
        if result.returncode != 0:
            pytest.fail(f"{name} failed ({result.returncode}): {result.stderr.decode()}")

    def read_attribute(self, dn: str, attribute: str) -> list[str]:
        """The values of `attribute` of the entry `dn`, read as the root DN with ldapsearch."""
        result = subprocess.run(
            [
                require_tool("ldapsearch"),
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                self.url,
                *self._admin(),
                "-s",
                "base",
                "-b",
                dn,
                attribute,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if result.returncode != 0:
            pytest.fail(f"ldapsearch of {dn} failed ({result.returncode}): {result.stderr}")
        values = []
        for line in result.stdout.splitlines():
            name, _, value = line.partition(":")
            if name.lower() == attribute.lower():
                encoded = value.startswith(":")  # "attr:: base64" for non-printable values
                value = value[1:] if encoded else value
                values.append(base64.b64decode(value).decode() if encoded else value.strip())
        return values

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def make_slapd(
    root: Path,
    *,
    modules: tuple[str, ...] = (),
    ppolicy: bool = False,
    extra_schemas: tuple[Path, ...] = (),
    access: tuple[str, ...] | None = None,
    tls: ServerFiles | None = None,
    mailserver_schema: bool = True,
) -> Slapd:
    """Build a cn=config and an empty database below `root` (not started).

    `modules`: extra slapd modules to load, e.g. ("argon2",) to verify {ARGON2} passwords.
    `ppolicy`: load the ppolicy overlay with POLICY_DN as its default policy (added to
    the database, with lockout after 5 failures); `extra_schemas`: more cn=config schema
    LDIF files; `access`: the database's olcAccess rules instead of DEFAULT_ACCESS.
    `tls`: serve TLS with that certificate (tests/integration/ldap_certs.py): StartTLS
    on `url` and implicit TLS on `ldaps_url`. `mailserver_schema=False`: a server
    without deploy/ldap/mailserver.ldif, as an organisation's directory is before
    its administrator loads it.
    """
    if ppolicy:
        modules = (*modules, "ppolicy")
    slapadd = _tool("slapadd")
    (root / "slapd.d").mkdir(parents=True)
    (root / "db").mkdir()
    config = root / "config.ldif"
    config.write_text(
        _config_ldif(
            root,
            _admin_hash(),
            modules,
            extra_schemas=extra_schemas,
            overlays=PPOLICY_OVERLAY if ppolicy else "",
            access=access,
            mailserver_schema=mailserver_schema,
        )
    )
    result = subprocess.run(
        [slapadd, "-n0", "-F", str(root / "slapd.d"), "-l", str(config)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"slapadd of the cn=config failed: {result.stderr}")
    if tls is not None:
        _configure_tls(root, tls)
    if tls is None:
        server = Slapd(root=root, port=free_port())
    else:
        server = Slapd(root=root, port=free_port(), tls_port=free_port(), ca_file=tls.ca_file)
    _add_base(server, BASE_ENTRY + (POLICY_ENTRIES if ppolicy else ""))
    return server


def make_slapd_conf(root: Path) -> Slapd:
    """Like make_slapd(root), configured the older way: a slapd.conf (`slapd -f`) that
    includes the system schemas and deploy/ldap/mailserver.schema (not started)."""
    (root / "db").mkdir(parents=True)
    module_dir = next((d for d in MODULE_DIRS if Path(d, "back_mdb.la").exists()), None)
    includes = [SCHEMA_DIR / f"{name}.schema" for name in SYSTEM_SCHEMAS] + [OUR_SCHEMA_CONF]
    config = root / "slapd.conf"
    config.write_text(
        "".join(f'include "{path}"\n' for path in includes)  # a checkout path may hold spaces
        + f"pidfile {root}/slapd.pid\nloglevel none\nsizelimit 500\n"
        + (f"modulepath {module_dir}\nmoduleload back_mdb\n" if module_dir else "")
        + f'database mdb\nmaxsize 104857600\nsuffix "{BASE}"\nrootdn "{ADMIN_DN}"\n'
        + f"rootpw {_admin_hash()}\ndirectory {root}/db\n"
        + "index objectClass eq\nindex mail,mailAlternateAddress eq\n"
        + "".join(f"access {rule}\n" for rule in DEFAULT_ACCESS)
    )
    server = Slapd(root=root, port=free_port(), config_file=config)
    _add_base(server, BASE_ENTRY)
    return server


def _admin_hash() -> str:
    """The root DN's password as slappasswd hashes it."""
    return subprocess.run(
        [_tool("slappasswd"), "-s", ADMIN_PASSWORD], capture_output=True, check=True, text=True
    ).stdout.strip()


def _add_base(server: Slapd, ldif: str) -> None:
    """Load the base entries into the (stopped) server's database with slapadd."""
    _tool("slapd")
    base = server.root / "base.ldif"
    base.write_text(ldif)
    result = subprocess.run(
        [_tool("slapadd"), *server.config_options(), "-b", BASE, "-l", str(base)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"slapadd of the base entry failed: {result.stderr}")


def _configure_tls(root: Path, tls: ServerFiles) -> None:
    """Add the certificate, key and CA to the cn=config built by slapadd (slapmodify)."""
    change = root / "tls.ldif"
    change.write_text(
        "dn: cn=config\nchangetype: modify\n"
        f"replace: olcTLSCACertificateFile\nolcTLSCACertificateFile: {tls.ca_file}\n-\n"
        f"replace: olcTLSCertificateFile\nolcTLSCertificateFile: {tls.cert_file}\n-\n"
        f"replace: olcTLSCertificateKeyFile\nolcTLSCertificateKeyFile: {tls.key_file}\n"
    )
    result = subprocess.run(
        [_tool("slapmodify"), "-n0", "-F", str(root / "slapd.d"), "-l", str(change)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"slapmodify of the TLS settings failed: {result.stderr}")


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A started slapd with our schema and the base entry; stopped at teardown."""
    server = make_slapd(tmp_path / "slapd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A started slapd that also serves TLS, with a certificate for 127.0.0.1 from a CA
    of its own (`ca_file`); stopped at teardown."""
    files = make_ca(tmp_path / "slapd-ca").issue(tmp_path / "slapd-cert")
    server = make_slapd(tmp_path / "slapd", tls=files)
    server.start()
    try:
        yield server
    finally:
        server.stop()
