import { ConfigError, type Env, loadConfig } from '../../src/core/config.js'

/** The problems `run` reports in its ConfigError; fails when it reports none. */
export function configProblems(run: () => unknown): string[] {
  try {
    run()
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

/** The problems loading `env` reports. */
export const problemsOf = (env: Env) => configProblems(() => loadConfig(env))
