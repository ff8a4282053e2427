import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { VARIABLES } from '../../src/core/config/variables.js'
import { loadConfig } from '../../src/core/config.js'

const example = readFileSync('.env.example', 'utf8')

/** The variables the service reads. */
const configVariables = Object.values(VARIABLES).map((variable) => variable.env)
/** `NAME=value` lines, commented out or not. */
const exampleVariables = new Map(
  [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] as string, m[2]]),
)

describe('.env.example', () => {
  it('lists every variable the service reads', () => {
    expect(configVariables.length).toBeGreaterThan(20)
    const missing = configVariables.filter((name) => !exampleVariables.has(name))
    expect(missing).toEqual([])
  })

  it('is a valid configuration as it stands (its active lines are the defaults)', () => {
    const active = Object.fromEntries(
      [...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1], m[2]]),
    )
    expect(loadConfig(active)).toEqual(loadConfig({}))
  })
})
