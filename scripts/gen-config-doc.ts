/**
 * Writes the settings tables of docs/configuration.md from the programs' settings tables
 * (src/<program>/settings.ts): `npm run docs:config`. With `--check` it writes nothing and
 * exits 1 when the page differs (what test/configuration.test.ts asserts too).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { renderSettingsMarkdown, replaceGeneratedSection } from '../src/common/settings/settings-output.js'
import { DFDAEMON_SETTINGS } from '../src/dfdaemon/settings.js'
import { DFGET_SETTINGS } from '../src/dfget/settings.js'
import { SUPERNODE_SETTINGS } from '../src/supernode/settings.js'

const target = new URL('../docs/configuration.md', import.meta.url)

/** `page` with each program's section regenerated from its table. */
export function generateConfigurationDoc (page: string): string {
  let out = page
  for (const [program, table] of [['supernode', SUPERNODE_SETTINGS], ['dfget', DFGET_SETTINGS], ['dfdaemon', DFDAEMON_SETTINGS]] as const) {
    out = replaceGeneratedSection(out, program, renderSettingsMarkdown(table))
  }
  return out
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const current = await readFile(target, 'utf8')
  const generated = generateConfigurationDoc(current)
  if (process.argv.includes('--check')) {
    if (current !== generated) {
      process.stderr.write('docs/configuration.md is stale: run npm run docs:config\n')
      process.exit(1)
    }
  } else {
    await writeFile(target, generated)
    process.stderr.write(`wrote ${target.pathname}\n`)
  }
}
