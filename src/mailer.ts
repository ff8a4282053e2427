import type { FastifyBaseLogger } from 'fastify'
import nodemailer from 'nodemailer'
import type { MailTransport } from './core/config.js'

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

/** The two messages the service sends, each carrying a 6-digit code. */
export function codeEmail(
  purpose: 'verify_email' | 'reset_password',
  to: string,
  code: string,
  ttlMinutes: number,
): MailMessage {
  const [subject, intro] =
    purpose === 'verify_email'
      ? [
          'Verify your Coffee Shop account',
          'Welcome to Coffee Shop! Use this code to verify your e-mail address:',
        ]
      : ['Reset your Coffee Shop password', 'Use this code to choose a new password:']
  const outro = `The code expires in ${ttlMinutes} minutes. If you did not ask for it, ignore this message.`
  return {
    to,
    subject,
    text: `${intro}\n\n    ${code}\n\n${outro}\n`,
    html: `<p>${escapeHtml(intro)}</p><p style="font-size:24px;font-weight:bold;letter-spacing:4px">${code}</p><p>${escapeHtml(outro)}</p>`,
  }
}
