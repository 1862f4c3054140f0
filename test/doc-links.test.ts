/**
 * The README and docs/ stand on their own: every Markdown link and every `*.md` file they
 * name resolves to a file inside the repository (web links aside). A reader of a clone or
 * of the npm package must never meet a link to a design document we do not ship.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'

const root = resolve(new URL('..', import.meta.url).pathname)

/** README.md and every Markdown file under docs/. */
function documents (): string[] {
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.md') ? [join(dir, entry.name)] : [])
  return [join(root, 'README.md'), ...walk(join(root, 'docs'))]
}

/** Inline links and images `[label](target "title")`, and reference definitions `[id]: target`. */
const INLINE_LINK = /!?\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g
const REFERENCE_DEFINITION = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm
const WEB_LINK = /^(?:https?:|mailto:)/i

function linkTargets (text: string): string[] {
  return [...[...text.matchAll(INLINE_LINK)].map((match) => match[2] ?? ''), ...[...text.matchAll(REFERENCE_DEFINITION)].map((match) => match[1] ?? '')]
}

/** Where `target` (a path, maybe with #anchor or ?query) points from `doc`, or why it is bad. */
function problemWith (doc: string, target: string, base = dirname(doc)): string | undefined {
  const path = decodeURIComponent(target.replace(/[#?].*$/, ''))
  if (path === '') return undefined // an anchor in the same page
  const file = path.startsWith('/') ? join(root, path) : resolve(base, path)
  const inside = relative(root, file)
  if (inside.startsWith(`..${sep}`) || inside === '..') return 'points outside the repository'
  if (!existsSync(file)) return 'names a file that does not exist'
  return undefined
}

test('every Markdown link of the README and docs points to an existing file inside the repository', () => {
  const problems: string[] = []
  for (const doc of documents()) {
    for (const target of linkTargets(readFileSync(doc, 'utf8'))) {
      if (WEB_LINK.test(target)) continue
      const problem = problemWith(doc, target)
      if (problem !== undefined) problems.push(`${relative(root, doc)}: (${target}) ${problem}`)
    }
  }
  assert.deepEqual(problems, [])
})

test('every *.md file the README and docs name exists in the repository', () => {
  const problems: string[] = []
  for (const doc of documents()) {
    // Link labels repeat their target's name, and web addresses are not files of ours.
    const text = readFileSync(doc, 'utf8').replace(INLINE_LINK, ' $2 ').replace(/\b(?:https?|mailto):\S+/g, ' ')
    for (const match of text.matchAll(/(?<![\w./-])([\w./-]*[\w-]\.md)\b/g)) {
      const name = match[1] ?? ''
      // A name is found beside the page that names it, or from the repository's root.
      if (problemWith(doc, name) !== undefined && problemWith(doc, name, root) !== undefined) problems.push(`${relative(root, doc)}: ${name}`)
    }
  }
  assert.deepEqual(problems, [])
})

test('the checks catch a link out of the repository and a missing file', () => {
  const doc = join(root, 'docs', 'example.md')
  assert.equal(problemWith(doc, '../../shared/seeds/dragonfly-design-doc.md'), 'points outside the repository')
  assert.equal(problemWith(doc, '../DESIGN.md'), 'names a file that does not exist')
  assert.equal(problemWith(doc, 'architecture.md#glossary'), undefined)
  assert.deepEqual(linkTargets('see [the design](../shared/x.md "t") and ![p](docs/p.png)\n[ref]: <docs/a.md>\n'), ['../shared/x.md', 'docs/p.png', 'docs/a.md'])
})
