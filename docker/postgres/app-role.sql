-- The role the API and the worker connect as (docker-compose.yml). It reads and writes the
-- rows of this database's tables and nothing more: not a superuser, no new databases or
-- roles, no DDL, no other database's data. The tables belong to the role that runs this
-- script and the migrations (the container's superuser); the tables it creates later are
-- granted as they appear (default privileges). Safe to run again: the password is reset.
--
-- psql variables: app_role (the role's name) and app_password.
\set ON_ERROR_STOP on

select format('create role %I', :'app_role')
where not exists (select from pg_roles where rolname = :'app_role') \gexec

select format(
  'alter role %I with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password %L',
  :'app_role',
  :'app_password'
) \gexec

-- Only the superuser and the API's role may connect to this database.
select format('revoke all on database %I from public', current_database()) \gexec
select format('grant connect on database %I to %I', current_database(), :'app_role') \gexec

-- Drizzle's migration journal: the API reads it at start to see that nothing is pending.
create schema if not exists drizzle;
grant usage on schema public, drizzle to :"app_role";

grant select, insert, update, delete on all tables in schema public to :"app_role";
grant usage, select on all sequences in schema public to :"app_role";
grant select on all tables in schema drizzle to :"app_role";
alter default privileges in schema public
  grant select, insert, update, delete on tables to :"app_role";
alter default privileges in schema public grant usage, select on sequences to :"app_role";
alter default privileges in schema drizzle grant select on tables to :"app_role";
