/**
 * The command-line convention (docs/cli.md), checked on the built bin/ executables of all
 * three programs: help and the version on stdout with exit 0, `config default` and
 * `config check FILE`, one error line on stderr with exit 2 for a bad flag, file or start-up
 * setting, and the same flag refused the same way by every program that has it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { BIN, ROOT } from '../harness/processes.js'
import { createTmpDir } from '../harness/tmp-dir.js'

const PROGRAMS = ['supernode', 'dfget', 'dfdaemon'] as const
type Program = typeof PROGRAMS[number]

const packageVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

interface Run { readonly status: number | null, readonly stdout: string, readonly stderr: string }

/** Runs a bin/ program to completion; one that does not end within 20 s is killed (by its PID) and fails. */
async function run (program: Program, args: readonly string[]): Promise<Run> {
  const child = spawn(BIN(program), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
  const status = await new Promise<number | null>((resolve) => { child.once('close', (code) => { resolve(code) }) })
  clearTimeout(killer)
  return { status, stdout, stderr }
}

/** Asserts one line on stderr, `<program>: error <code>: …` matching `pattern`, nothing on stdout, exit 2. */
function assertUsageError (program: Program, result: Run, pattern: RegExp, what: string): void {
  assert.equal(result.status, 2, `${program} ${what}: exit 2 (stderr: ${result.stderr})`)
  assert.equal(result.stdout, '', `${program} ${what}: nothing on stdout`)
  const lines = result.stderr.split('\n').filter((line) => line !== '')
  assert.equal(lines.length, 1, `${program} ${what}: one line on stderr, got ${JSON.stringify(result.stderr)}`)
  assert.match(lines[0] ?? '', new RegExp(`^${program}: error DF_ERR_CONFIG_INVALID: `), `${program} ${what}`)
  assert.match(lines[0] ?? '', pattern, `${program} ${what}`)
}

for (const program of PROGRAMS) {
  test(`${program}: --help, help and command help go to stdout with exit 0`, async () => {
    const [help, short, helpCommand, configHelp, bareConfig] = await Promise.all([
      run(program, ['--help']), run(program, ['-h']), run(program, ['help', 'config']), run(program, ['config', '--help']), run(program, ['config']),
    ])
    for (const [what, result] of [['--help', help], ['-h', short], ['help config', helpCommand], ['config --help', configHelp], ['config', bareConfig]] as const) {
      assert.equal(result.status, 0, `${program} ${what}: exit 0 (stderr: ${result.stderr})`)
      assert.equal(result.stderr, '', `${program} ${what}: nothing on stderr`)
    }
    assert.equal(short.stdout, help.stdout)
    assert.match(help.stdout, new RegExp(`^Usage: ${program} `))
    for (const text of ['-h, --help', '-v, --version', 'config', 'version', 'help [command]']) assert.ok(help.stdout.includes(text), `${program} --help lists ${text}`)
    assert.match(configHelp.stdout, new RegExp(`^Usage: ${program} config `))
    assert.match(configHelp.stdout, /default\s/)
    assert.match(configHelp.stdout, /check <file>/)
    assert.equal(bareConfig.stdout, configHelp.stdout, 'a bare config prints the config help')
    assert.equal(helpCommand.stdout, configHelp.stdout)
  })

  test(`${program}: --version, -v and version print "${program} <package version>" on stdout`, async () => {
    for (const result of await Promise.all([run(program, ['--version']), run(program, ['-v']), run(program, ['version'])])) {
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stderr, '')
      assert.equal(result.stdout, `${program} ${packageVersion}\n`)
    }
  })

  test(`${program}: config default prints YAML that config check accepts; a bad file is one line naming the key, exit 2`, async (t) => {
    const dir = await createTmpDir(`damselfly-cli-${program}-`)
    t.after(() => dir.close())
    const defaults = await run(program, ['config', 'default'])
    assert.equal(defaults.status, 0, defaults.stderr)
    assert.equal(defaults.stderr, '')
    const parsed: unknown = parseYaml(defaults.stdout)
    assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `${program} config default is a YAML mapping`)
    const good = join(dir.path, 'good.yml')
    await writeFile(good, defaults.stdout)
    const unknownKey = join(dir.path, 'unknown-key.yml')
    await writeFile(unknownKey, 'prot: 8002\n')
    const badValue = join(dir.path, 'bad-value.yml')
    await writeFile(badValue, 'port: lots\n')
    const [ok, unknown, bad, missing, noFile] = await Promise.all([
      run(program, ['config', 'check', good]),
      run(program, ['config', 'check', unknownKey]),
      run(program, ['config', 'check', badValue]),
      run(program, ['config', 'check', join(dir.path, 'missing.yml')]),
      run(program, ['config', 'check']),
    ])
    assert.equal(ok.status, 0, ok.stderr)
    assert.equal(ok.stderr, '')
    assert.equal(ok.stdout, `${program}: config ok: ${good}\n`)
    assertUsageError(program, unknown, /\bprot\b/, 'config check with an unknown key')
    assertUsageError(program, bad, /\bport\b.*lots/, 'config check with a bad value')
    assertUsageError(program, missing, /missing\.yml/, 'config check of a missing file')
    assertUsageError(program, noFile, /file/, 'config check without a file')
  })

  test(`${program}: an unknown flag, and a --config file that cannot be read at start-up, are one line and exit 2`, async () => {
    const [flag, startUp] = await Promise.all([
      run(program, ['--no-such-flag']),
      // The program stops before it starts anything, so no port or home is needed; dfget
      // gets a URL so that the file, not the missing URL, is what stops it.
      run(program, ['--config', '/nonexistent/damselfly.yml', ...(program === 'dfget' ? ['-u', 'http://127.0.0.1:1/f.bin'] : [])]),
    ])
    assertUsageError(program, flag, /--no-such-flag/, 'with an unknown flag')
    assertUsageError(program, startUp, /\/nonexistent\/damselfly\.yml/, 'with a --config file that cannot be read')
  })
}

test('the version is the same on all three programs', async () => {
  const versions = await Promise.all(PROGRAMS.map(async (program) => (await run(program, ['--version'])).stdout.split(' ')[1]))
  assert.deepEqual(versions, PROGRAMS.map(() => `${packageVersion}\n`))
})

test('dfget and dfdaemon refuse the same bad -n entry with the same error', async () => {
  const [dfget, dfdaemon] = await Promise.all([
    run('dfget', ['-u', 'http://127.0.0.1:1/f.bin', '-n', ':::']),
    run('dfdaemon', ['--port', '0', '--listen', '127.0.0.1', '-n', ':::']),
  ])
  assertUsageError('dfget', dfget, /--node: bad supernode ":::"/, '-n :::')
  assertUsageError('dfdaemon', dfdaemon, /--node: bad supernode ":::"/, '-n :::')
  assert.equal(dfget.stderr.replace(/^dfget/, ''), dfdaemon.stderr.replace(/^dfdaemon/, ''))
})

test('a flag the programs share is refused by each with exit 2 and one line naming it', async () => {
  const [supernodeListen, dfdaemonListen, supernodePort, dfdaemonPort, dfgetPort] = await Promise.all([
    run('supernode', ['--listen', 'no-such-host', '--port', '0', '--download-port', '0']),
    run('dfdaemon', ['--listen', 'no-such-host', '--port', '0']),
    run('supernode', ['--listen', '127.0.0.1', '--port', '65536']),
    run('dfdaemon', ['--listen', '127.0.0.1', '--port', '65536']),
    run('dfget', ['-u', 'http://127.0.0.1:1/f.bin', '--port', '65536']),
  ])
  assertUsageError('supernode', supernodeListen, /listen: must be an IP address/, '--listen no-such-host')
  assertUsageError('dfdaemon', dfdaemonListen, /listen: must be an IP address/, '--listen no-such-host')
  assertUsageError('supernode', supernodePort, /port.*65536/, '--port 65536')
  assertUsageError('dfdaemon', dfdaemonPort, /port.*65536/, '--port 65536')
  assertUsageError('dfget', dfgetPort, /port.*65536/, '--port 65536')
})
