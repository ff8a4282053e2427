#!/bin/sh
# Run by the postgres image once, when it initialises an empty data volume (mounted into
# /docker-entrypoint-initdb.d). Creates the API's own role from APP_DB_USER/APP_DB_PASSWORD;
# see app-role.sql for its rights. On an existing volume, run it by hand:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-app-role.sh
set -eu
psql --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set app_role="${APP_DB_USER:?APP_DB_USER is not set}" \
  --set app_password="${APP_DB_PASSWORD:?APP_DB_PASSWORD is not set}" \
  --file /etc/coffee-shop/app-role.sql
