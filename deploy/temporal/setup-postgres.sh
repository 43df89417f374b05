#!/bin/sh
# One-shot (service temporal-schema, image temporalio/admin-tools): creates Temporal's two
# PostgreSQL databases and brings their schemas to the version that this admin-tools
# image's temporal-sql-tool embeds. Every step is idempotent: `create` ignores an existing
# database, `setup-schema -v 0.0` skips a database that already has a schema version, and
# `update-schema` applies only the missing versions. So it runs on every `docker compose up`
# and is also the schema upgrade after a version bump (bump admin-tools and server together).
#
# Follows temporalio/samples-server compose/scripts/setup-postgres.sh (the set-up Temporal's
# docs point to since the auto-setup image was deprecated), with two changes: the schemas are
# the ones embedded in the tool (--schema-name, as tools/sql/README.md of temporalio/temporal
# v1.32.0 documents), and the connection comes from temporal-sql-tool's own environment
# (SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD, SQL_PLUGIN), keeping the password off the
# command line.
set -eu

: "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}" "${SQL_PLUGIN:?}"

echo "waiting for PostgreSQL at ${SQL_HOST}:${SQL_PORT}"
tries=0
until nc -z "$SQL_HOST" "$SQL_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL at ${SQL_HOST}:${SQL_PORT} did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done

# setup DATABASE EMBEDDED_SCHEMA
setup() {
  echo "database $1: create if missing, then update to the latest $2 schema"
  temporal-sql-tool --db "$1" create
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema --schema-name "$2"
}

setup temporal postgresql/v12/temporal
setup temporal_visibility postgresql/v12/visibility
echo "Temporal schemas are up to date"
