# Sourced by test.sh and bench.sh: install what is missing (as root, on Debian), then start a
# throwaway PostgreSQL cluster and Redis server on free loopback ports, removed on exit.
# DATABASE_URL / REDIS_URL, when already set, are used instead.
PY="$PWD/.venv/bin/python"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing ${missing[*]} from Debian's packages"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" fonts-dejavu-core
  else
    echo "Missing ${missing[*]}: install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

work=$(mktemp -d /tmp/defender-services.XXXXXX)
chmod 755 "$work"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres=()
[ "$(id -u)" = 0 ] && as_postgres=(runuser -u postgres --)
pg_started=""
stop_services() {
  [ -n "$pg_started" ] && "${as_postgres[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  rm -rf "$work"
}
trap stop_services EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [ -z "${DATABASE_URL:-}" ]; then
  port=$(free_port)
  mkdir "$work/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$work/pg"
  "${as_postgres[@]}" "$PGBIN/initdb" -D "$work/pg" -A trust -U postgres --no-sync >/dev/null
  "${as_postgres[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w start -o \
    "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  pg_started=1
  "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres defender
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/defender"
  echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
fi
if [ -z "${REDIS_URL:-}" ]; then
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work" >/dev/null
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "Redis on 127.0.0.1:$port"
fi
export VAR_DIR="${VAR_DIR:-$work/var}"
