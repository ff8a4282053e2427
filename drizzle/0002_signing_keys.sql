CREATE TABLE "signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"algorithm" text NOT NULL,
	"state" text NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"private_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"activated_at" timestamp with time zone,
	"retired_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"hs256_accepted_until" timestamp with time zone,
	CONSTRAINT "signing_keys_algorithm_valid" CHECK ("signing_keys"."algorithm" in ('ES256', 'EdDSA')),
	CONSTRAINT "signing_keys_state_valid" CHECK ("signing_keys"."state" in ('next', 'current', 'retired', 'revoked'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "signing_keys_one_per_live_state" ON "signing_keys" USING btree ("state") WHERE "signing_keys"."state" in ('current', 'next');