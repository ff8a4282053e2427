import type { FastifyBaseLogger } from 'fastify'
import nodemailer from 'nodemailer'
import type { MailTransport } from './core/config.js'
import type { CodePurpose } from './db/schema.js'

export interface MailMessage {
  to: string
  subject: string
  text: string
  html: string
}

export interface Mailer {
  /** Sends now; rejects when delivery fails. */
  send(message: MailMessage): Promise<void>
  /**
   * Sends in the background so the HTTP answer neither waits for SMTP nor reveals by its
   * timing whether an address exists. Failures are logged, never thrown.
   */
  dispatch(message: MailMessage): void
  /** Waits for background sends, then closes the transport (graceful shutdown). */
  close(): Promise<void>
}

type Logger = Pick<FastifyBaseLogger, 'info' | 'error'>

/**
 * SMTP when `smtpUrl` is set and `transport` (config's MAIL_TRANSPORT) is not `log`;
 * otherwise every message, code included, goes to the log.
 */
export function createMailer(options: {
  smtpUrl: string | null
  transport?: MailTransport
  mailFrom: string
  logger: Logger
}): Mailer {
  const { smtpUrl, mailFrom, logger } = options
  const transport =
    smtpUrl === null || options.transport === 'log' ? null : nodemailer.createTransport(smtpUrl)
  const pending = new Set<Promise<void>>()

  async function send(message: MailMessage): Promise<void> {
    if (transport === null) {
      logger.info(
        { mail: { to: message.to, subject: message.subject, text: message.text } },
        'e-mail (log transport; set SMTP_URL to deliver)',
      )
      return
    }
    await transport.sendMail({ from: mailFrom, ...message })
  }

  return {
    send,
    dispatch(message) {
      const delivery = send(message)
        .catch((error: unknown) =>
          logger.error(
            { err: error, to: message.to, subject: message.subject },
            'e-mail delivery failed',
          ),
        )
        .finally(() => pending.delete(delivery))
      pending.add(delivery)
    },
    async close() {
      await Promise.allSettled([...pending])
      transport?.close()
    },
  }
}

/**
 * For commands that send no e-mail (the CLI's): an attempt is a bug, so it fails loudly
 * instead of writing a code to a log nobody reads.
 */
export const noMail: Mailer = {
  send: async () => {
    throw new Error('this command sends no e-mail')
  },
  dispatch: () => {
    throw new Error('this command sends no e-mail')
  },
  close: async () => {},
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const CODE_MESSAGES = {
  verify_email: [
    'Verify your Coffee Shop account',
    'Welcome to Coffee Shop! Use this code to verify your e-mail address:',
  ],
  reset_password: ['Reset your Coffee Shop password', 'Use this code to choose a new password:'],
  change_email: [
    'Confirm your new Coffee Shop e-mail address',
    'Use this code to make this your Coffee Shop e-mail address:',
  ],
} as const satisfies Record<CodePurpose, readonly [string, string]>

/** The messages carrying a 6-digit code, one per purpose. */
export function codeEmail(
  purpose: CodePurpose,
  to: string,
  code: string,
  ttlMinutes: number,
): MailMessage {
  const [subject, intro] = CODE_MESSAGES[purpose]
  const outro = `The code expires in ${ttlMinutes} minutes. If you did not ask for it, ignore this message.`
  return {
    to,
    subject,
    text: `${intro}\n\n    ${code}\n\n${outro}\n`,
    html: `<p>${escapeHtml(intro)}</p><p style="font-size:24px;font-weight:bold;letter-spacing:4px">${code}</p><p>${escapeHtml(outro)}</p>`,
  }
}

/**
 * An address as a notice may show it: the first character of the local part and the
 * domain (`a•••@example.com`), enough for the owner to recognise, little for anyone else.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  return `${email.slice(0, 1)}\u2022\u2022\u2022${email.slice(at)}`
}

/** To the old address once an e-mail change is confirmed: no code, no link, the new address masked. */
export function emailChangedNotice(to: string, newEmail: string): MailMessage {
  const intro = `The e-mail address of your Coffee Shop account was changed to ${maskEmail(newEmail)}.`
  const outro =
    "If this wasn't you, contact Coffee Shop support at once: someone who knows your password has taken over your account."
  return {
    to,
    subject: 'Your Coffee Shop e-mail address was changed',
    text: `${intro}\n\n${outro}\n`,
    html: `<p>${escapeHtml(intro)}</p><p>${escapeHtml(outro)}</p>`,
  }
}

/** Security notices about two-factor authentication: they carry no code or link. */
export function mfaNoticeEmail(
  notice: 'mfa_disabled' | 'recovery_code_used',
  to: string,
  remainingCodes?: number,
): MailMessage {
  const [subject, body] =
    notice === 'mfa_disabled'
      ? [
          'Two-factor authentication was turned off',
          'Two-factor authentication was turned off for your Coffee Shop account. Signing in now needs only your password.',
        ]
      : [
          'A recovery code was used',
          `One of your recovery codes was just used to sign in to your Coffee Shop account (${remainingCodes ?? 0} left).`,
        ]
  const outro =
    'If this was not you, reset your password at once and contact support: someone may have access to your account.'
  return {
    to,
    subject,
    text: `${body}\n\n${outro}\n`,
    html: `<p>${escapeHtml(body)}</p><p>${escapeHtml(outro)}</p>`,
  }
}
