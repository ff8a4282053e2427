-- Each instance keeps the users and sessions it authenticated recently (src/services/auth-cache.ts).
-- These triggers NOTIFY it of every change that could make such an entry wrong, whoever
-- makes it: an instance, the CLI, the worker or SQL typed by hand. The payload is the user id;
-- '*' (TRUNCATE) means every user. Only rows the cache can hold notify: verified users, and
-- sessions not yet ended, so the cleanup's bulk deletes of never-verified users stay silent.
CREATE FUNCTION "auth_cache_notify_user"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('auth_changes', OLD."id");
	RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE FUNCTION "auth_cache_notify_session"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('auth_changes', OLD."user_id");
	RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE FUNCTION "auth_cache_notify_all"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('auth_changes', '*');
	RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "users_auth_cache_notify" AFTER UPDATE OR DELETE ON "users"
	FOR EACH ROW WHEN (OLD."is_verified") EXECUTE FUNCTION "auth_cache_notify_user"();--> statement-breakpoint
CREATE TRIGGER "sessions_auth_cache_notify" AFTER UPDATE OF "ended_at", "expires_at", "user_id" OR DELETE ON "sessions"
	FOR EACH ROW WHEN (OLD."ended_at" IS NULL) EXECUTE FUNCTION "auth_cache_notify_session"();--> statement-breakpoint
CREATE TRIGGER "users_auth_cache_notify_truncate" AFTER TRUNCATE ON "users"
	FOR EACH STATEMENT EXECUTE FUNCTION "auth_cache_notify_all"();--> statement-breakpoint
CREATE TRIGGER "sessions_auth_cache_notify_truncate" AFTER TRUNCATE ON "sessions"
	FOR EACH STATEMENT EXECUTE FUNCTION "auth_cache_notify_all"();
