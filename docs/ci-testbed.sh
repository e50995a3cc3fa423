# Fragment for .ci/run (to be merged by the lead): install the testbed's
# server packages from Debian without letting their postinst scripts start
# the packages' own services, then run the testbed tests as root.
#
# The testbed never uses the Debian services (each target gets its own
# config, pid file and directories under /run/tsload-testbed), but a running
# default nginx/apache/bind would hold ports on the host and waste CPU, and in
# a container without an init system the service start simply fails the
# install. policy-rc.d exit 101 = "action forbidden": invoke-rc.d (and
# deb-systemd-invoke) then skip every start/restart during the install.

set -eu

if [ "$(id -u)" -eq 0 ]; then
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
  fi

  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends \
    iproute2 nftables \
    nginx-light apache2 lighttpd bind9 nsd knot

  # Only remove the policy we created ourselves.
  [ "$had_policy" -eq 0 ] && rm -f "$policy"

  # Belt and braces where an init system did start something anyway
  # (ignore failures: in a container there is usually no service manager).
  for service in nginx apache2 lighttpd named bind9 nsd knot; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl stop "$service" || true
      systemctl disable "$service" || true
    elif command -v service >/dev/null 2>&1; then
      service "$service" stop >/dev/null 2>&1 || true
    fi
  done

  # The testbed tests (they skip themselves, with the reason printed, when not root).
  npx vitest run test/testbed.test.ts
else
  echo "ci: not root: the testbed tests will be skipped (they need root to create network namespaces)" >&2
  npx vitest run test/testbed.test.ts
fi
