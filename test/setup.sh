#!/bin/sh
# What the test suites need from Debian, installed when missing (CI starts on a fresh machine).
#   python3-winrm  pywinrm 0.3.0, the real client the interop suite drives (Debian's /usr/bin/python3)
set -eu
need=""
/usr/bin/python3 -c 'import winrm' 2>/dev/null || need="$need python3-winrm"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test/setup.sh: the tests need:$need (apt-get install -y$need, as root)" >&2
    exit 1
  fi
  echo "test/setup.sh: installing$need" >&2
  apt-get update -qq >/dev/null
  apt-get install -y -qq $need >/dev/null
fi
