import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  CONFIG_TABLE_BEGIN,
  CONFIG_TABLE_END,
  renderConfigTable,
  renderEnvExample,
  withConfigTable,
} from '../../examples/generate-config-docs.js'
import { SECTIONS, VARIABLES } from '../../src/core/config/variables.js'
import { loadConfig } from '../../src/core/config.js'

const example = readFileSync('.env.example', 'utf8')
const readme = readFileSync('README.md', 'utf8')

/** The variables the service reads. */
const configVariables = Object.values(VARIABLES).map((variable) => variable.env)
/** `NAME=value` lines, commented out or not. */
const exampleVariables = new Map(
  [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] as string, m[2]]),
)

describe('the declared variables', () => {
  it('name each environment variable once, and each section holds its own', () => {
    expect(configVariables.length).toBeGreaterThan(30)
    expect(new Set(configVariables).size).toBe(configVariables.length)
    const inSections = SECTIONS.flatMap((section) => Object.keys(section.variables))
    expect(inSections).toEqual(Object.keys(VARIABLES))
  })

  it('open each section with a documented variable, and document every one with a doc', () => {
    for (const section of SECTIONS) {
      const variables = Object.values(section.variables)
      expect(variables[0]?.doc, section.title).toBeDefined()
      for (const variable of variables) {
        expect(variable.doc === undefined || variable.summary !== undefined, variable.env).toBe(
          true,
        )
      }
    }
  })
})

describe('.env.example', () => {
  it('is what `npm run docs:config` writes from the declarations', () => {
    expect(example).toBe(renderEnvExample())
  })

  it('lists every variable the service reads', () => {
    const missing = configVariables.filter((name) => !exampleVariables.has(name))
    expect(missing).toEqual([])
  })

  it('is a valid configuration as it stands (its active lines are the defaults)', () => {
    const active = Object.fromEntries(
      [...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1], m[2]]),
    )
    expect(Object.keys(active).length).toBeGreaterThan(20)
    expect(loadConfig(active)).toEqual(loadConfig({}))
  })

  it('shows example values that are valid (commented-out lines filled in)', () => {
    const examples = Object.fromEntries(
      Object.values(VARIABLES)
        .filter((variable) => variable.example)
        .map((variable) => [variable.env, variable.example]),
    )
    expect(Object.keys(examples)).toContain('DATABASE_URL')
    expect(() =>
      loadConfig({ ...examples, FIRST_ADMIN_PASSWORD: 'a long admin password' }),
    ).not.toThrow()
  })
})

describe("the README's configuration table", () => {
  it('is what `npm run docs:config` writes from the declarations', () => {
    expect(readme).toContain(CONFIG_TABLE_BEGIN)
    expect(readme).toContain(CONFIG_TABLE_END)
    expect(readme).toBe(withConfigTable(readme, renderConfigTable()))
  })

  it('names every variable the service reads', () => {
    const table = readme.slice(readme.indexOf(CONFIG_TABLE_BEGIN), readme.indexOf(CONFIG_TABLE_END))
    const named = new Set([...table.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]))
    expect(configVariables.filter((name) => !named.has(name))).toEqual([])
  })
})
