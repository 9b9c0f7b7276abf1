#!/bin/sh
# The container's entrypoint: optionally seed one user, then run winrmd with the given command.
#   WINRMD_USER            a user to add (or update) before starting
#   WINRMD_PASSWORD_FILE   the file holding that user's password (first line); never an env value
#   WINRMD_RUN_AS          the Linux account the user's processes run as (default: nobody)
#   WINRMD_ROLE            that user's role (default: helper; viewer, elevated, administrator, …)
#   WINRMD_APP             where winrmd is installed (default: /app)
#   WINRMD_LAB             for `lab` (and `lab ctl`): the lab file (default: the bundled config/lab.yaml)
set -eu
app="${WINRMD_APP:-/app}"
if [ "${1:-}" = lab ]; then
  # A lab file has its own users: there is no user store to seed.
  if [ -n "${WINRMD_USER:-}" ]; then
    echo "winrmd-entrypoint: a lab's users are in its lab file (WINRMD_LAB), not WINRMD_USER" >&2
    exit 2
  fi
  exec node "$app/dist/src/main.js" "$@" --config "${WINRMD_LAB:-$app/config/lab.yaml}"
fi
config="${WINRMD_CONFIG:-$app/config/winrmd.yaml}"
if [ -n "${WINRMD_USER:-}" ]; then
  if [ -z "${WINRMD_PASSWORD_FILE:-}" ] || [ ! -r "$WINRMD_PASSWORD_FILE" ]; then
    echo "winrmd-entrypoint: WINRMD_USER needs a readable WINRMD_PASSWORD_FILE" >&2
    exit 2
  fi
  node "$app/dist/src/main.js" user add "$WINRMD_USER" --run-as "${WINRMD_RUN_AS:-nobody}" --role "${WINRMD_ROLE:-helper}" --config "$config" < "$WINRMD_PASSWORD_FILE"
fi
exec node "$app/dist/src/main.js" "$@" --config "$config"
