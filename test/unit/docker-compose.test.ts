import { existsSync, readFileSync, statSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// docker-compose.yml cannot be run here (no Docker engine): these checks read the file
// as text, block by block (two-space YAML, as it is written), for what must stay true.

interface PackageJson {
  scripts: Record<string, string>
}

const compose = readFileSync('docker-compose.yml', 'utf8')
const lines = compose.split('\n')
const example = readFileSync('.env.example', 'utf8')
const exampleVariables = new Set(
  [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]),
)

/** The lines nested under `key:` (at `indent` spaces) in `within`. */
function block(within: string[], key: string, indent: number): string[] {
  const head = `${' '.repeat(indent)}${key}:`
  const start = within.findIndex((line) => line === head || line.startsWith(`${head} `))
  if (start === -1) throw new Error(`docker-compose.yml: no "${key}:" at indent ${indent}`)
  const end = within.findIndex(
    (line, index) =>
      index > start && line.trim() !== '' && !line.startsWith(' '.repeat(indent + 1)),
  )
  return within.slice(start + 1, end === -1 ? undefined : end)
}

const service = (name: string) => block(block(lines, 'services', 0), name, 2)
/** `KEY: value` of a mapping, the value unquoted. */
const setting = (within: string[], key: string) => {
  const line = within.find((l) => l.trimStart().startsWith(`${key}: `))
  return line?.slice(line.indexOf(':') + 2).replace(/^"(.*)"$/, '$1')
}
const listItems = (within: string[]) =>
  within
    .map((l) => l.trim())
    .filter((l) => l.startsWith('- '))
    .map((l) => l.slice(2).replace(/^"(.*)"$/, '$1'))
const databaseUser = (url: string | undefined) => /^postgres:\/\/([^:@]+)[:@]/.exec(url ?? '')?.[1]

const appEnv = block(block(lines, 'x-app', 0), 'environment', 2)
const postgresEnv = block(service('postgres'), 'environment', 4)

describe('docker-compose.yml', () => {
  it('reads only variables that .env.example lists', () => {
    const used = [...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string)
    expect(used.length).toBeGreaterThan(5)
    expect(used.filter((name) => !exampleVariables.has(name))).toEqual([])
  })

  it('has no default password or key: each one is required from .env', () => {
    const secrets = [...compose.matchAll(/\$\{([A-Z0-9_]*(?:PASSWORD|SECRET)[A-Z0-9_]*)([^}]*)\}/g)]
    expect(new Set(secrets.map((m) => m[1]))).toEqual(
      new Set(['SECRET_KEY', 'POSTGRES_PASSWORD', 'APP_DB_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']),
    )
    for (const [reference, , rest] of secrets) {
      expect(rest, reference).toMatch(/^:\?\S/) // ${VAR:?message}: unset or empty stops compose
    }
    // No password written into a connection URL either.
    for (const [url, password] of compose.matchAll(/postgres:\/\/[^:@\s]+:([^@\s]*)@/g)) {
      expect(password, url).toMatch(/^\$\{[A-Z_]+:\?/)
    }
  })

  it('runs the API and the worker as their own role, the migrations as the superuser', () => {
    const appRole = setting(postgresEnv, 'APP_DB_USER')
    const superuser = setting(postgresEnv, 'POSTGRES_USER')
    expect(appRole).toMatch(/^[a-z_]+$/)
    expect(appRole).not.toBe(superuser)
    expect(databaseUser(setting(appEnv, 'DATABASE_URL'))).toBe(appRole)
    for (const name of ['api', 'worker']) {
      expect(setting(service(name), 'DATABASE_URL'), name).toBeUndefined()
    }
    expect(databaseUser(setting(service('migrate'), 'DATABASE_URL'))).toBe(superuser)
    // .env is the app's env_file too: the superuser's password is blanked in its environment.
    expect(setting(appEnv, 'POSTGRES_PASSWORD')).toBe('')
  })

  it('migrates with the compiled CLI, as `npm run db:migrate` does from the sources', () => {
    expect(setting(service('migrate'), 'command')).toBe('["node", "dist/cli.js", "migrate"]')
    expect(setting(service('worker'), 'command')).toBe('["node", "dist/worker.js"]')
    // tsc compiles src/<name>.ts to dist/<name>.js.
    for (const entry of ['cli', 'worker']) expect(existsSync(`src/${entry}.ts`), entry).toBe(true)
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as PackageJson).scripts
    expect(scripts['db:migrate']).toBe('node --import tsx src/cli.ts migrate')
  })

  it("creates the API's role with an init script the postgres container runs", () => {
    const mounts = listItems(block(service('postgres'), 'volumes', 4))
    const script = mounts.find((m) => m.includes(':/docker-entrypoint-initdb.d/'))
    const [scriptFile = ''] = script?.split(':') ?? []
    expect(statSync(scriptFile).mode & 0o111).not.toBe(0)
    const sqlMount = mounts.find((m) => m.startsWith('./docker/postgres/app-role.sql:'))
    const sqlPath = sqlMount?.split(':')[1] ?? 'missing'
    expect(readFileSync(scriptFile, 'utf8')).toContain(`--file ${sqlPath}`)
    expect(readFileSync('docker/postgres/app-role.sql', 'utf8')).toMatch(
      /nosuperuser nocreatedb nocreaterole/,
    )
  })

  it('publishes the web UIs (Mailpit, Grafana, Prometheus) on 127.0.0.1 only, and pins every image', () => {
    for (const name of ['mailpit', 'grafana', 'prometheus']) {
      const ports = listItems(block(service(name), 'ports', 4))
      expect(ports.length, name).toBe(1)
      for (const port of ports) expect(port, name).toMatch(/^127\.0\.0\.1:/)
    }
    const images = [...compose.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1] as string)
    // the app's, postgres, redis, mailpit, prometheus, loki, alloy, grafana
    expect(images.length).toBe(8)
    for (const image of images) expect(image).toMatch(/^[\w./-]+:(?!latest$)[\w.-]+$/)
    for (const name of ['mailpit', 'prometheus', 'loki', 'alloy', 'grafana']) {
      expect(setting(service(name), 'image'), name).toMatch(/:v?\d+\.\d+\.\d+$/)
    }
  })

  it('serves /metrics of the API and the worker on an unpublished port, to Prometheus', () => {
    expect(setting(appEnv, 'METRICS_PORT')).toBe('9100')
    expect(setting(appEnv, 'METRICS_HOST')).toBe('0.0.0.0')
    // The API publishes its port only; 9100 is published by no service.
    expect(listItems(block(service('api'), 'ports', 4))).toEqual([`\${API_PORT:-8000}:8000`])
    expect(compose).not.toMatch(/:9100["\s]*$/m)
    const mounts = listItems(block(service('prometheus'), 'volumes', 4))
    expect(mounts).toContain('./docker/prometheus:/etc/prometheus:ro')
    expect(listItems(block(service('prometheus'), 'command', 4))).toContain(
      '--config.file=/etc/prometheus/prometheus.yml',
    )
  })

  it('provisions Grafana from files that exist, and ships logs with Alloy', () => {
    const mounts = listItems(block(service('grafana'), 'volumes', 4))
    expect(mounts).toContain('./docker/grafana/provisioning:/etc/grafana/provisioning:ro')
    expect(mounts).toContain('./docker/grafana/dashboards:/etc/grafana/dashboards:ro')
    const provider = readFileSync('docker/grafana/provisioning/dashboards/dashboards.yml', 'utf8')
    expect(provider).toContain('path: /etc/grafana/dashboards')
    const home = setting(
      block(service('grafana'), 'environment', 4),
      'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH',
    )
    expect(existsSync(home?.replace('/etc/grafana/', 'docker/grafana/') ?? 'missing')).toBe(true)
    const alloy = listItems(block(service('alloy'), 'volumes', 4))
    expect(alloy).toContain('./docker/alloy/config.alloy:/etc/alloy/config.alloy:ro')
    // Alloy keeps to this compose project's containers.
    const name = /^name: (\S+)$/m.exec(compose)?.[1]
    expect(readFileSync('docker/alloy/config.alloy', 'utf8')).toContain(
      `"com.docker.compose.project=${name}"`,
    )
  })
})

describe('docker-compose.scale.yml (three API replicas behind HAProxy)', () => {
  const scale = readFileSync('docker-compose.scale.yml', 'utf8')
  const scaleService = (name: string) => block(block(scale.split('\n'), 'services', 0), name, 2)
  const haproxyCfg = readFileSync('docker/haproxy/haproxy.cfg', 'utf8')

  it('runs three api replicas that publish nothing; HAProxy publishes the port api did', () => {
    const api = scaleService('api')
    expect(setting(block(api, 'deploy', 4), 'replicas')).toBe('3')
    expect(setting(api, 'ports')).toBe('!reset []')
    expect(setting(block(api, 'environment', 4), 'TRUST_PROXY')).toBe('1')
    const published = listItems(block(service('api'), 'ports', 4))
    expect(listItems(block(scaleService('haproxy'), 'ports', 4))).toEqual(published)
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's own interpolation, kept literal
    expect(published).toEqual(['${API_PORT:-8000}:8000'])
  })

  it('mounts a pinned HAProxy on its config, started once the replicas are healthy', () => {
    const haproxy = scaleService('haproxy')
    expect(setting(haproxy, 'image')).toMatch(/^haproxy:\d+\.\d+\.\d+-alpine$/)
    const [source, target] = listItems(block(haproxy, 'volumes', 4))[0]?.split(':') ?? []
    expect(source).toBe('./docker/haproxy/haproxy.cfg')
    expect(target).toBe('/usr/local/etc/haproxy/haproxy.cfg')
    expect(setting(block(block(haproxy, 'depends_on', 4), 'api', 6), 'condition')).toBe(
      'service_healthy',
    )
    const used = [...scale.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string)
    expect(used.filter((name) => !exampleVariables.has(name))).toEqual([])
  })

  it('balances round-robin over the api service, checked on /health/ready', () => {
    const directives = haproxyCfg
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
    expect(directives).toContain('bind :8000')
    expect(directives).toContain('balance roundrobin')
    expect(directives).toContain('http-check send meth GET uri /health/ready')
    expect(directives).toContain('http-check expect status 200')
    expect(directives).toContain('server-template api 5 api:8000')
    expect(directives).toContain('option forwardfor')
    expect(directives).toContain('http-request deny deny_status 404 if { path /metrics }')
    // The replicas' address comes from Docker's DNS, re-read as they come and go.
    expect(directives).toContain('nameserver dns 127.0.0.11:53')
    expect(directives.find((d) => d.startsWith('default-server '))).toMatch(
      /\bcheck\b.*\bresolvers docker\b.*\binit-addr none\b/,
    )
  })
})
