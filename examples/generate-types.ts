import { writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript'
import { pino } from 'pino'
import { composeApi } from '../src/composition.js'
import { systemClock } from '../src/core/clock.js'
import { loadConfig } from '../src/core/config.js'
import { createDatabase } from '../src/db/client.js'

/** Where `npm run client:types` writes the types that examples/client.ts compiles against. */
export const API_TYPES_PATH = fileURLToPath(new URL('./api.d.ts', import.meta.url))

/**
 * The OpenAPI document exactly as `/openapi.json` serves it, built without a server or a
 * database file: the app on PGlite in memory, never listening.
 */
export async function buildOpenApiDocument(): Promise<OpenAPI3> {
  const config = loadConfig({
    SECRET_KEY: 'openapi-types-only-0123456789abcdef0123456789',
    RUN_SCHEDULER: 'false',
    LOG_LEVEL: 'silent',
  })
  const logger = pino({ level: 'silent' })
  const database = await createDatabase({ databaseUrl: null, pglitePath: null })
  const api = await composeApi({ config, logger, database, clock: systemClock })
  try {
    await api.app.ready()
    return api.app.swagger() as OpenAPI3
  } finally {
    await api.close()
    await database.close()
  }
}

/** openapi-typescript's rendering of a document; deterministic, so it can be compared. */
export async function renderApiTypes(document: OpenAPI3): Promise<string> {
  // A deep copy: openapi-typescript annotates the object it is given.
  const ast = await openapiTS(structuredClone(document))
  return `${COMMENT_HEADER}${astToString(ast)}`
}

async function main() {
  const types = await renderApiTypes(await buildOpenApiDocument())
  await writeFile(API_TYPES_PATH, types)
  console.log(`wrote ${API_TYPES_PATH}`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
