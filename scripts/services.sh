#!/usr/bin/env bash
# Start the local servers the server suites use, when they are installed but not running.
# Nothing here fails: the test suite itself decides (CI=true turns a missing server into a failure).
set -u
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_up; then
  echo "starting PostgreSQL"
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if command -v redis-server >/dev/null 2>&1 && ! (redis-cli -h 127.0.0.1 ping >/dev/null 2>&1); then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
fi
if command -v mosquitto >/dev/null 2>&1 && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf >/dev/null 2>&1 || true
fi
pg_up && echo "PostgreSQL is up" || echo "PostgreSQL is not available"
exit 0
