ALTER TABLE "code_sends" DROP CONSTRAINT "code_sends_purpose_valid";--> statement-breakpoint
ALTER TABLE "one_time_codes" DROP CONSTRAINT "one_time_codes_purpose_valid";--> statement-breakpoint
ALTER TABLE "one_time_codes" ADD COLUMN "new_email" text;--> statement-breakpoint
ALTER TABLE "code_sends" ADD CONSTRAINT "code_sends_purpose_valid" CHECK ("code_sends"."purpose" in ('verify_email', 'reset_password', 'change_email'));--> statement-breakpoint
ALTER TABLE "one_time_codes" ADD CONSTRAINT "one_time_codes_new_email_of_change" CHECK (("one_time_codes"."purpose" = 'change_email') = ("one_time_codes"."new_email" is not null));--> statement-breakpoint
ALTER TABLE "one_time_codes" ADD CONSTRAINT "one_time_codes_purpose_valid" CHECK ("one_time_codes"."purpose" in ('verify_email', 'reset_password', 'change_email'));