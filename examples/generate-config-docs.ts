import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Variable } from '../src/core/config/variable.js'
import { SECTIONS } from '../src/core/config/variables.js'
import { markdownTable } from './markdown-table.js'

/**
 * `.env.example` and the README's configuration table, both written by
 * `npm run docs:config` from the variables declared in src/core/config/variables-*.ts.
 */
export const ENV_EXAMPLE_PATH = fileURLToPath(new URL('../.env.example', import.meta.url))
export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url))

export const CONFIG_TABLE_BEGIN =
  '<!-- config-table:begin — generated from src/core/config by `npm run docs:config`; do not edit by hand -->'
export const CONFIG_TABLE_END = '<!-- config-table:end -->'

/** Comment lines stay within this width. */
const WIDTH = 90

const HEADER = [
  '# Coffee Shop API configuration. Copy to .env (read at start, never overriding the real',
  '# environment). Every variable the service reads is listed here with its default; a',
  '# commented line means "unset". Durations: 500ms, 30s, 15m, 12h, 2d.',
  '# For `docker compose up`, set SECRET_KEY, POSTGRES_PASSWORD, APP_DB_PASSWORD and',
  '# GRAFANA_ADMIN_PASSWORD below; compose supplies DATABASE_URL, REDIS_URL and (unless set',
  '# here) SMTP_URL itself.',
  '# (Written by `npm run docs:config` from src/core/config/variables-*.ts.)',
]

/** Variables compose reads from .env; the service never does, so they are not declared. */
const COMPOSE_ONLY = [
  '# Required, no default: the password of the database superuser (postgres container and the',
  "# migrate job) and that of coffee_app, the API's own role, which may only read and write",
  '# rows. Letters and digits only (they go into connection URLs): `openssl rand -hex 24`.',
  '# POSTGRES_PASSWORD=',
  '# APP_DB_PASSWORD=',
  "# Host port of the API, and of Mailpit's web UI (published on 127.0.0.1 only).",
  '# API_PORT=8000',
  '# MAILPIT_UI_PORT=8025',
  "# Required, no default: the password of Grafana's admin user (letters and digits).",
  '# GRAFANA_ADMIN_PASSWORD=',
  '# Host ports of Grafana and Prometheus (published on 127.0.0.1 only).',
  '# GRAFANA_PORT=3000',
  '# PROMETHEUS_PORT=9090',
]

type AnyVariable = Variable<unknown>

/** Variables documented together: the first one's doc covers those after it without one. */
interface Block {
  doc: string
  summary: string
  variables: AnyVariable[]
}

function blocksOf(variables: Record<string, AnyVariable>): Block[] {
  const blocks: Block[] = []
  for (const variable of Object.values(variables)) {
    const last = blocks.at(-1)
    if (variable.doc !== undefined) {
      if (variable.summary === undefined) throw new Error(`${variable.env} has no summary`)
      blocks.push({ doc: variable.doc, summary: variable.summary, variables: [variable] })
    } else if (last) {
      last.variables.push(variable)
    } else {
      throw new Error(`${variable.env} opens its section without a doc`)
    }
  }
  return blocks
}

/** `text` as comment lines of at most WIDTH characters. */
function comment(text: string): string[] {
  const lines: string[] = []
  let line = '#'
  for (const word of text.split(/\s+/)) {
    if (line !== '#' && line.length + 1 + word.length > WIDTH) {
      lines.push(line)
      line = '#'
    }
    line += ` ${word}`
  }
  return [...lines, line]
}

const sectionRule = (title: string) => `# --- ${title} `.padEnd(WIDTH - 1, '-')

/** `NAME=default`, or commented out when the variable is unset by default. */
function assignment(variable: AnyVariable): string {
  if (variable.example !== undefined) return `# ${variable.env}=${variable.example}`
  if (variable.default !== undefined) return `${variable.env}=${variable.default}`
  return `# ${variable.env}=`
}

export function renderEnvExample(): string {
  const parts = [HEADER]
  for (const section of SECTIONS) {
    const lines = [sectionRule(section.title)]
    for (const block of blocksOf(section.variables)) {
      lines.push(...comment(block.doc), ...block.variables.map(assignment))
    }
    parts.push(lines)
  }
  parts.push([sectionRule('docker compose only (not read by the service)'), ...COMPOSE_ONLY])
  return `${parts.map((lines) => lines.join('\n')).join('\n\n')}\n`
}

/** The README's default cell for one variable. */
function defaultCell(variable: AnyVariable): string {
  const unset = variable.unset === undefined ? 'unset' : `unset → ${variable.unset}`
  const value = variable.default === undefined ? unset : `\`${variable.default}\``
  return variable.production === undefined ? value : `${value} (${variable.production})`
}

/** One row per documented block, in the order of `.env.example`. */
export function renderConfigTable(): string {
  const rows = SECTIONS.flatMap((section) =>
    blocksOf(section.variables).map((block) => {
      const cells = block.variables.map(defaultCell)
      return [
        block.variables.map((variable) => `\`${variable.env}\``).join(', '),
        cells.every((cell) => cell === cells[0]) ? (cells[0] ?? '') : cells.join(', '),
        block.summary,
      ]
    }),
  )
  return markdownTable(['variable', 'default', 'meaning'], rows)
}

/** `markdown` with the part between the config-table markers replaced by `table`. */
export function withConfigTable(markdown: string, table: string): string {
  const begin = markdown.indexOf(CONFIG_TABLE_BEGIN)
  const end = markdown.indexOf(CONFIG_TABLE_END)
  if (begin === -1 || end < begin) throw new Error(`${README_PATH} lacks the config-table markers`)
  return `${markdown.slice(0, begin + CONFIG_TABLE_BEGIN.length)}\n\n${table}\n\n${markdown.slice(end)}`
}

async function main() {
  await writeFile(ENV_EXAMPLE_PATH, renderEnvExample())
  const readme = await readFile(README_PATH, 'utf8')
  await writeFile(README_PATH, withConfigTable(readme, renderConfigTable()))
  console.log(`wrote ${ENV_EXAMPLE_PATH} and the configuration table of ${README_PATH}`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
