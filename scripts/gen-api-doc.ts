/**
 * Writes docs/api.md from the OpenAPI document of a supernode started in this process
 * (127.0.0.1, port 0, a temp home): `npm run docs:api`. With `--check` it writes nothing
 * and exits 1 when docs/api.md differs (what test/api-doc.test.ts asserts too).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { startTestSupernode } from '../test/harness/supernode.js'
import { renderApiMarkdown } from './lib/api-doc.js'

const target = new URL('../docs/api.md', import.meta.url)

/** The Markdown of a freshly started supernode's /openapi.json. */
export async function generateApiMarkdown (): Promise<string> {
  const sn = await startTestSupernode()
  try {
    const response = await fetch(`${sn.apiUrl}/openapi.json`)
    if (response.status !== 200) throw new Error(`GET /openapi.json: HTTP ${response.status}`)
    return renderApiMarkdown(await response.json())
  } finally {
    await sn.close()
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const markdown = await generateApiMarkdown()
  if (process.argv.includes('--check')) {
    const current = await readFile(target, 'utf8').catch(() => '')
    if (current !== markdown) {
      process.stderr.write('docs/api.md is stale: run npm run docs:api\n')
      process.exit(1)
    }
  } else {
    await writeFile(target, markdown)
    process.stderr.write(`wrote ${target.pathname}\n`)
  }
}
