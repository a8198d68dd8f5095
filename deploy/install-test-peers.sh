#!/bin/sh
# Install the Debian packages of the real peers the tests talk to (clients and
# servers), without letting Debian start their system services: each test
# starts its own server on a free loopback port in a temporary directory.
#
# Packages are installed without their "Recommends", so what a peer needs to
# do its job in the tests is named here: swaks needs Net::SSLeay for --tls and
# --tlsc (the README's own second step). After installing, each peer is asked
# whether it can do what the tests ask of it, so a machine that lacks a part
# fails here with the package to install, not later in a test.
set -eu

# postfix only for its smtp-sink; dnsmasq-base is the program without the system service;
# libnet-ssleay-perl gives swaks TLS; openssl is what the certificate tooling and tests call;
# redis-server is the shared counters' peer (each test starts its own on a free port).
PACKAGES="swaks libnet-ssleay-perl dovecot-imapd isync neomutt bsdutils postfix dnsmasq-base
slapd ldap-utils openssl ca-certificates redis-server"

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
        exit 1
    fi

    policy=/usr/sbin/policy-rc.d
    created_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        created_policy=yes
    fi
    trap '[ "$created_policy" = yes ] && rm -f "$policy"' EXIT

    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself: not at all (its smtp-sink is all the tests use).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # slapd: no default database either; each test starts its own slapd in a temp dir.
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

# Each peer can do what the tests ask of it.
fail=0
if ! swaks --support 2>&1 | grep -q "^=== TLS supported"; then
    echo "swaks cannot do TLS: install libnet-ssleay-perl" >&2
    fail=1
fi
if ! neomutt -v 2>/dev/null | grep -q "+openssl\|+gnutls"; then
    echo "neomutt has no TLS support: install Debian's neomutt package" >&2
    fail=1
fi
if ! ldd "$(command -v mbsync)" 2>/dev/null | grep -q "libssl"; then
    echo "mbsync has no TLS support: install Debian's isync package" >&2
    fail=1
fi
# The counters set an expiry only on a new key with PEXPIRE ... NX (Redis 7.0).
redis_major=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
if [ -z "$redis_major" ] || [ "$redis_major" -lt 7 ]; then
    echo "redis-server is missing or older than 7.0 (the counters need PEXPIRE NX)" >&2
    fail=1
fi
exit $fail
