import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  anchorsOf,
  extractLinks,
  findLinkProblems,
  issueReferences,
  type Repository,
} from '../helpers/markdown-links.js'

/**
 * The repository must stand alone: whoever clones it gets every page its Markdown links
 * to. A link that climbs out of it (`../shared/…`), names an absolute path, or points to a
 * file git does not track fails here.
 */
const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim()

/** Tracked files still present in the work tree (a deletion not yet committed counts as gone). */
function trackedRepository(): Repository {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '' && existsSync(join(root, file)))
  const tracked = new Set(files)
  const directories = new Set(
    files.flatMap((file) =>
      file
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  )
  return {
    isTrackedFile: (path) => tracked.has(path),
    isTrackedDirectory: (path) => directories.has(path),
    read: (path) => readFileSync(join(root, path), 'utf8'),
  }
}

const markdownFiles = () =>
  execFileSync('git', ['ls-files', '-z', '*.md'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '' && existsSync(join(root, file)))

/** A repository held in memory, for feeding the checker links that must fail. */
function fakeRepository(files: Record<string, string>): Repository {
  return {
    isTrackedFile: (path) => path in files,
    isTrackedDirectory: (path) => Object.keys(files).some((file) => file.startsWith(`${path}/`)),
    read: (path) => files[path] ?? '',
  }
}

describe("the repository's Markdown links", () => {
  it('stay inside the repository and reach tracked files and existing headings', () => {
    const files = markdownFiles()
    expect(files).toContain('README.md')
    expect(files).toContain('docs/api.md')
    expect(findLinkProblems(files, trackedRepository())).toEqual([])
  })

  it('cite no internal issue numbers', () => {
    const repo = trackedRepository()
    const cited = markdownFiles().flatMap((file) =>
      issueReferences(repo.read(file)).map((reference) => `${file}: ${reference}`),
    )
    expect(cited).toEqual([])
  })
})

describe('the Markdown link checker', () => {
  const problemsOf = (text: string) =>
    findLinkProblems(
      ['docs/page.md'],
      fakeRepository({
        'docs/page.md': text,
        'README.md': '# Title\n\n## Running with Docker\n',
        'docs/guide.md': '# Guide\n\n## Limits\n\n## Limits\n',
        'docs/chart.svg': '<svg/>',
        'src/app.ts': '',
      }),
    )

  it('reports links that leave the repository, absolute paths and file: URLs', () => {
    const text = [
      'The [contract](../../shared/API.md) and [its twin](<../../shared/API 2.md>).',
      '[absolute](/work/shared/API.md), [url](file:///etc/passwd)',
      '[ref]: ../../outside.md',
      '<a href="../../x.html">x</a> ![img](../../logo.png)',
    ].join('\n')
    expect(problemsOf(text).map(({ line, target, problem }) => [line, target, problem])).toEqual([
      [1, '../../shared/API.md', 'leaves the repository'],
      [1, '../../shared/API 2.md', 'leaves the repository'],
      [2, '/work/shared/API.md', 'an absolute path: use a path relative to this file'],
      [2, 'file:///etc/passwd', 'a file: URL points outside the repository'],
      [3, '../../outside.md', 'leaves the repository'],
      [4, '../../logo.png', 'leaves the repository'],
      [4, '../../x.html', 'leaves the repository'],
    ])
  })

  it('reports missing files and missing headings, relative to the linking file', () => {
    const text = [
      '[gone](missing.md) [src](../src/gone.ts) [here](guide.md#nowhere) [self](#nope)',
      '[ok](guide.md#limits-1) [ok](../README.md#running-with-docker) [ok](chart.svg)',
      '[ok](../src) [ok](../src/app.ts) [ok](https://example.com/x.md) [ok](<http://localhost:8000/docs>)',
    ].join('\n')
    expect(problemsOf(text).map(({ target, problem }) => [target, problem])).toEqual([
      ['missing.md', 'docs/missing.md is not a tracked file of the repository'],
      ['../src/gone.ts', 'src/gone.ts is not a tracked file of the repository'],
      ['guide.md#nowhere', 'docs/guide.md has no heading #nowhere'],
      ['#nope', 'docs/page.md has no heading #nope'],
    ])
  })

  it('ignores links inside code blocks, code spans and comments', () => {
    const text = [
      '```md',
      '[in a block](../../a.md)',
      '```',
      'Write `[x](../../b.md)` to link. <!-- [hidden](../../c.md) -->',
      '~~~',
      '![also](/abs.png)',
      '~~~',
    ].join('\n')
    expect(extractLinks(text)).toEqual([])
  })

  it('names headings as GitHub does, code spans and punctuation dropped, duplicates numbered', () => {
    const anchors = anchorsOf(
      '# API reference\n## Authentication: `/auth`\n### `GET /users/{id}`\n## Limits\n## Limits\n```\n# not a heading\n```\n',
    )
    expect([...anchors]).toEqual([
      'api-reference',
      'authentication-auth',
      'get-usersid',
      'limits',
      'limits-1',
    ])
  })

  it('finds issue numbers in prose only', () => {
    expect(issueReferences('Fixed in issue 16 (#12); see `#3`, &#60; and a [link](#top).')).toEqual(
      ['issue 16', '#12'],
    )
  })
})
