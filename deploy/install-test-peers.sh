#!/bin/sh
# Install the Debian packages of the real peers the tests talk to (clients and
# servers), without letting Debian start their system services: each test
# starts its own server on a free loopback port in a temporary directory.
set -eu

# postfix only for its smtp-sink; dnsmasq-base is the program without the system service.
PACKAGES="swaks dovecot-imapd isync neomutt bsdutils postfix dnsmasq-base slapd ldap-utils"

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

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
