import { type ParsedMail, simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  to: string
  subject: string
  text: string
  html: string
}

/** A real SMTP server on a free local port that keeps what it receives. */
export async function startSmtpServer() {
  const messages: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed: ParsedMail) => {
          for (const recipient of session.envelope.rcptTo) {
            messages.push({
              to: recipient.address.toLowerCase(),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
            })
          }
          for (const wake of waiters) wake()
          callback()
        })
        .catch(callback)
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as { port: number }

  const messagesTo = (to: string) => messages.filter((message) => message.to === to.toLowerCase())

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    messagesTo,
    /** Resolves with the `count`-th message to `to` (1-based), waiting up to `timeoutMs`. */
    async waitForMessage(to: string, count = 1, timeoutMs = 5_000): Promise<ReceivedMail> {
      const deadline = Date.now() + timeoutMs
      while (messagesTo(to).length < count) {
        if (Date.now() > deadline)
          throw new Error(`no e-mail #${count} to ${to} within ${timeoutMs}ms`)
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake)
            resolve()
          }
          waiters.add(wake)
          setTimeout(wake, 50)
        })
      }
      return messagesTo(to)[count - 1] as ReceivedMail
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

export type SmtpInbox = Awaited<ReturnType<typeof startSmtpServer>>

/** The 6-digit code from a received message (text part). */
export function codeFrom(message: ReceivedMail): string {
  const match = /^\s*(\d{6})\s*$/m.exec(message.text)
  if (!match?.[1]) throw new Error(`no code in e-mail: ${message.text}`)
  return match[1]
}
