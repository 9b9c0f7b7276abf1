#!/bin/sh
# What the test suites need from Debian, installed when missing (CI starts on a fresh machine).
#   python3-winrm                      pywinrm 0.3.0, the real client the interop suite drives (Debian's /usr/bin/python3)
#   golang-go                          the Go toolchain that builds the Go interop harness (GOPATH mode, no network)
#   golang-github-masterzen-winrm-dev  masterzen/winrm, the real Go client, as source under /usr/share/gocode
#   ipmitool                           the IPMI tests' second transport, and what they cross-check winrmd against
#   openipmi                           ipmi_sim and sdrcomp: the loopback BMC of test/fixtures/ipmi-sim
#   python3-gssapi gss-ntlmssp         MIT GSS-API for Python and its NTLM mechanism: the real SPNEGO initiator of test/interop/spnego_client.py
#   redis-server rsyslog               the collector's Redis and syslog outputs' real peers (started and stopped by the tests)
#   postgresql                         the server binaries for the throw-away clusters of the PostgreSQL store's tests
#   krb5-kdc krb5-admin-server krb5-user  MIT Kerberos: the throw-away realm (test/helpers/kdc.ts) and kinit
#   systemd-journal-remote             writes the journal files the journal tests read (test/helpers/journal.ts)
#   ansible-core                       Ansible's winrm connection (over pywinrm), run ad hoc against the lab's virtual hosts
#   packer                             Packer's WinRM communicator (masterzen/winrm and winrmcp), a null build against a lab host
#   chromium                           the real browser the dashboard's test drives headless (playwright-core, pointed at /usr/bin/chromium)
set -eu
need=""
/usr/bin/python3 -c 'import winrm' 2>/dev/null || need="$need python3-winrm"
command -v go >/dev/null 2>&1 || need="$need golang-go"
[ -d /usr/share/gocode/src/github.com/masterzen/winrm ] || need="$need golang-github-masterzen-winrm-dev"
command -v ipmitool >/dev/null 2>&1 || need="$need ipmitool"
command -v ipmi_sim >/dev/null 2>&1 && command -v sdrcomp >/dev/null 2>&1 || need="$need openipmi"
/usr/bin/python3 -c 'import gssapi' 2>/dev/null || need="$need python3-gssapi"
[ -e /etc/gss/mech.d/mech.ntlmssp.conf ] || need="$need gss-ntlmssp"
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
command -v rsyslogd >/dev/null 2>&1 || need="$need rsyslog"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
command -v krb5kdc >/dev/null 2>&1 || need="$need krb5-kdc"
command -v kadmin.local >/dev/null 2>&1 || need="$need krb5-admin-server"
command -v kinit >/dev/null 2>&1 || need="$need krb5-user"
[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] || need="$need systemd-journal-remote"
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -x /usr/bin/ansible ] || need="$need ansible-core"
[ -x /usr/bin/packer ] || need="$need packer"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test/setup.sh: the tests need:$need (apt-get install -y$need, as root)" >&2
    exit 1
  fi
  echo "test/setup.sh: installing$need" >&2
  apt-get update -qq >/dev/null
  # noninteractive: a fresh CI machine has no terminal for debconf to ask on
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
# The Go harness (dist/test/go-winrm-client); build.sh is a no-op when the binary is up to date.
sh "$(dirname "$0")/interop/go/build.sh"
