import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { createDatabase } from '../../src/db/client.js'
import { runMigrations } from '../../src/db/migrate.js'

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string
  }
}

/**
 * Global setup of the PGlite project: initdb and migrations run once, and every test file
 * starts its own in-memory database from this snapshot (seconds saved per file).
 */
export default async function setup(project: TestProject) {
  const database = await createDatabase({ databaseUrl: null, pglitePath: null })
  await runMigrations(database)
  const pglite = (database.db as unknown as { $client: { dumpDataDir(c: 'none'): Promise<Blob> } })
    .$client
  const dump = await pglite.dumpDataDir('none')
  await database.close()
  const file = join(tmpdir(), `coffee-pglite-template-${process.pid}.tar`)
  await writeFile(file, Buffer.from(await dump.arrayBuffer()))
  project.provide('pgliteTemplate', file)
  return () => rm(file, { force: true })
}
