import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/core/config.js'

const configSource = readFileSync('src/core/config.ts', 'utf8')
const example = readFileSync('.env.example', 'utf8')

/** Every `read.x('NAME', …)` in config.ts: the variables the service reads. */
const configVariables = [...configSource.matchAll(/read\.\w+\(\s*'([A-Z][A-Z0-9_]*)'/g)].map(
  (match) => match[1] as string,
)
/** `NAME=value` lines, commented out or not. */
const exampleVariables = new Map(
  [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] as string, m[2]]),
)

describe('.env.example', () => {
  it('lists every variable config.ts reads', () => {
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
