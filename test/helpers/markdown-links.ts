import { posix } from 'node:path'

/**
 * A checker for the links of the repository's Markdown files: each must stay inside the
 * repository and point to a tracked file (and, with `#anchor`, to a heading of it), so a
 * fresh clone has every page a link leads to. External URLs are not followed.
 */

export interface MarkdownLink {
  target: string
  line: number
}

export interface LinkProblem {
  file: string
  line: number
  target: string
  problem: string
}

/** The repository as the checker sees it: tracked paths, relative to its root, `/`-separated. */
export interface Repository {
  isTrackedFile(path: string): boolean
  isTrackedDirectory(path: string): boolean
  /** The text of a tracked Markdown file, for its headings. */
  read(path: string): string
}

const blank = (text: string) => text.replace(/[^\n]/g, ' ')

/** Fenced code blocks and HTML comments blanked out, line numbers kept. */
export function withoutCodeBlocks(markdown: string): string {
  const lines = markdown.replace(/<!--[\s\S]*?-->/g, blank).split('\n')
  let fence: string | null = null
  const kept = lines.map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1]
    if (fence === null && marker) {
      fence = marker
      return ''
    }
    if (fence !== null) {
      if (marker?.startsWith(fence)) fence = null
      return ''
    }
    return line
  })
  return kept.join('\n')
}

/** Code blocks, code spans and HTML comments blanked out, line numbers kept. */
function proseOnly(markdown: string): string {
  return withoutCodeBlocks(markdown).replace(/(`+)[^`\n]*?\1/g, blank)
}

/** Link text that may hold one level of brackets, as in `[![badge](a)](b)`. */
const TEXT = String.raw`(?:[^\[\]\n]|\[[^\[\]\n]*\])*`
const INLINE = new RegExp(String.raw`!?\[${TEXT}\]\(\s*(<[^>\n]*>|[^\s)]+)`, 'g')
const DEFINITION = /^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm
const HTML_ATTRIBUTE = /\b(?:href|src)\s*=\s*["']([^"']+)["']/gi

/** Inline links and images, reference definitions and HTML `href`/`src`, outside code. */
export function extractLinks(markdown: string): MarkdownLink[] {
  const prose = proseOnly(markdown)
  const lineAt = (index: number) => prose.slice(0, index).split('\n').length
  const links: MarkdownLink[] = []
  for (const pattern of [INLINE, DEFINITION, HTML_ATTRIBUTE]) {
    for (const match of prose.matchAll(pattern)) {
      const target = (match[1] ?? '').replace(/^<|>$/g, '')
      links.push({ target, line: lineAt(match.index) })
    }
  }
  return links.sort((a, b) => a.line - b.line)
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function headingSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-')
}

/** Every anchor a link may name in this Markdown: heading slugs (duplicates numbered) and ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const match of withoutCodeBlocks(markdown).matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$/gm)) {
    const slug = headingSlug(match[1] ?? '')
    const count = seen.get(slug) ?? 0
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
    seen.set(slug, count + 1)
  }
  for (const match of markdown.matchAll(/\b(?:id|name)\s*=\s*["']([^"']+)["']/g)) {
    anchors.add(match[1] ?? '')
  }
  return anchors
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i

/** What is wrong with one link of `file`, or null when it is fine. */
function checkLink(file: string, target: string, repo: Repository): string | null {
  if (/^file:/i.test(target)) return 'a file: URL points outside the repository'
  if (SCHEME.test(target) || target.startsWith('//')) return null
  if (target.startsWith('/')) return 'an absolute path: use a path relative to this file'
  const [pathPart = '', anchor] = target.split('#', 2)
  let path: string
  try {
    path = decodeURIComponent(pathPart.split('?')[0] ?? '')
  } catch {
    return 'a malformed %-escape'
  }
  const resolved = path === '' ? file : posix.normalize(posix.join(posix.dirname(file), path))
  if (resolved === '..' || resolved.startsWith('../')) return 'leaves the repository'
  const inRepo = resolved.replace(/\/$/, '')
  if (inRepo === '.' || repo.isTrackedDirectory(inRepo)) return null
  if (!repo.isTrackedFile(inRepo)) return `${inRepo} is not a tracked file of the repository`
  if (anchor && inRepo.endsWith('.md') && !anchorsOf(repo.read(inRepo)).has(anchor)) {
    return `${inRepo} has no heading #${anchor}`
  }
  return null
}

/** Every problem of every link in `files` (repository-relative Markdown paths). */
export function findLinkProblems(files: string[], repo: Repository): LinkProblem[] {
  const problems: LinkProblem[] = []
  for (const file of files) {
    for (const { target, line } of extractLinks(repo.read(file))) {
      const problem = checkLink(file, target, repo)
      if (problem) problems.push({ file, line, target, problem })
    }
  }
  return problems
}

/** Mentions of internal issue numbers ("issue 16", "#16") in the prose of a Markdown text. */
export function issueReferences(markdown: string): string[] {
  const pattern = /\bissues?\s+#?\d+|(?<![&\w])#\d+\b/gi
  return [...proseOnly(markdown).matchAll(pattern)].map((match) => match[0])
}
