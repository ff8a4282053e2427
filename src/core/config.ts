import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CHECKS } from './config/checks.js'
import { ConfigError, type Env, problemLine } from './config/problems.js'
import { completeSettings, type SettingName, type Settings, VARIABLES } from './config/variables.js'
import { createSecretKeyFile, ensurePrivateDirectory, readSecretKeyFile } from './private-files.js'

export { parseDuration } from './config/parsers.js'
export { ConfigError, type Env } from './config/problems.js'

/** The settings, typed by their declarations in `config/variables-*.ts`. */
export type Config = ReturnType<typeof completeSettings>
/** Where e-mails (and their codes) go: an SMTP server, or the log. */
export type MailTransport = Config['mailTransport']

/**
 * Parses and validates the environment once. Pure: the caller passes the variables
 * (tests hand in a plain object) and gets a frozen object back or a ConfigError that
 * lists every bad variable, not just the first, so one start shows them all.
 */
export function loadConfig(env: Env): Readonly<Config> {
  const problems: string[] = []
  const refused = new Set<SettingName>()
  const values: Partial<Record<SettingName, unknown>> = {}
  for (const name of Object.keys(VARIABLES) as SettingName[]) {
    const variable = VARIABLES[name]
    const verdict = variable.read(env[variable.env])
    if ('refused' in verdict) {
      problems.push(problemLine(variable, verdict.refused, env))
      refused.add(name)
    } else {
      values[name] = verdict.value
    }
  }
  // Every value a check reads is there: it runs only when none of them was refused.
  const settings = values as Settings
  for (const check of CHECKS) {
    if (check.reads.every((name) => !refused.has(name))) problems.push(...check.run(settings, env))
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(completeSettings(settings))
}

/**
 * Outside production a missing SECRET_KEY is generated once and kept in the data folder
 * (private to the user running the API), so a newcomer needs no set-up and tokens survive
 * a restart. A key file others could read, or not holding a key, stops the start.
 */
export function resolveSecretKey(config: Readonly<Config>): Readonly<Config> {
  if (config.secretKey !== null) return config
  const file = join(config.dataDir, 'secret_key')
  ensurePrivateDirectory(config.dataDir)
  if (!existsSync(file)) createSecretKeyFile(file)
  const read = readSecretKeyFile(file)
  if ('problem' in read) throw new ConfigError([read.problem])
  return Object.freeze({ ...config, secretKey: read.key })
}

/** The process environment, after reading `.env` when present (it never overrides). */
export function readEnvironment(): Env {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return process.env
}

/** What the server, worker and CLI call: environment, validation, then the secret. */
export function loadRuntimeConfig(): Readonly<Config> {
  return resolveSecretKey(loadConfig(readEnvironment()))
}
