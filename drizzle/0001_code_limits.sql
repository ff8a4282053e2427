CREATE TABLE "code_sends" (
	"address_hash" text NOT NULL,
	"purpose" text NOT NULL,
	"sent_at" timestamp with time zone[] NOT NULL,
	CONSTRAINT "code_sends_pkey" PRIMARY KEY("address_hash","purpose"),
	CONSTRAINT "code_sends_purpose_valid" CHECK ("code_sends"."purpose" in ('verify_email', 'reset_password'))
);
--> statement-breakpoint
ALTER TABLE "one_time_codes" ADD COLUMN "recent_failures" timestamp with time zone[] DEFAULT '{}' NOT NULL;