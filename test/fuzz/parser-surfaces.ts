/**
 * Fuzz surfaces of the parsers that read outside input without a server in between:
 *
 * - `ranges`: piece ranges (`start-end` path parameters), Range headers as the supernode,
 *   peer servers and dfdaemon read them, Content-Range headers of sources. Whatever they
 *   return must be inside the file.
 * - `headers`: dfget's command line with generated `--header` values (and every other flag),
 *   source headers of registrations, and piece grant headers (mutated real grants): a
 *   refusal is a DF_ERR_CONFIG_INVALID / DF_ERR_ARG_INVALID / grant error (the programs
 *   print it as one line: common/cli-convention.ts), and a grant that verifies says exactly what was signed.
 * - `config-files`: the YAML configuration files of the supernode, dfget and dfdaemon,
 *   read from disk and resolved as the programs do: options, or DF_ERR_CONFIG_INVALID.
 */
import fc from 'fast-check'
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify as stringifyYaml } from 'yaml'
import { parseContentRange, parseRangeHeader } from '../../src/common/http/range-header.js'
import { parseRangeHeader as parseProxyRangeHeader, resolveRange } from '../../src/dfdaemon/byte-range.js'
import { loadDfdaemonConfigFile, resolveDfdaemonConfig } from '../../src/dfdaemon/config.js'
import { parseCommandLine } from '../../src/dfget/cli.js'
import { resolveDfgetConfig } from '../../src/dfget/config.js'
import { DFGET_CONFIG_KEYS, loadDfgetConfigFile } from '../../src/dfget/config-file.js'
import { resolvePeerServerConfig } from '../../src/dfget/uploader/peer-server-config.js'
import { loadConfigFile, resolveSupernodeConfig, SETTING_NAMES } from '../../src/supernode/config.js'
import { parsePieceRange } from '../../src/protocol/piece-range.js'
import { checkSourceHeaders } from '../../src/protocol/source-headers.js'
import { signPieceGrant, verifyPieceGrant } from '../../src/protocol/piece-grant.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { defineSurface, judgeThrown, type Outcome, type SurfaceInstance } from './fuzz-surface.js'
import { fieldValue } from './http-input.js'

/** Runs a parser: accepted (status 0), a documented refusal, or a crash. */
async function judge (run: () => unknown, allowedCodes: ReadonlySet<string>): Promise<Outcome> {
  try {
    const failure = await run()
    if (typeof failure === 'string') return { status: 0, violation: { kind: 'undocumented', detail: failure } }
    return { status: 0 }
  } catch (err) {
    return judgeThrown(err, allowedCodes)
  }
}

const number = fc.oneof(fc.integer({ min: -5, max: 2 ** 31 }), fc.constantFrom(0, 1, 2 ** 53, 2 ** 53 + 2, 1e21))
const rangeText = fc.oneof(
  fc.tuple(number, number).map(([a, b]) => `${a}-${b}`),
  fc.tuple(fc.constantFrom('bytes=', 'bytes =', 'BYTES=', 'items=', ' bytes= ', 'bytes '), fc.option(number, { nil: undefined }), fc.option(number, { nil: undefined }), fc.constantFrom('', ',0-1', ', 5-', '/100', ' ')).map(([unit, a, b, tail]) => `${unit}${a ?? ''}-${b ?? ''}${tail}`),
  fc.tuple(number, number, fc.option(number, { nil: undefined })).map(([a, b, total]) => `bytes ${a}-${b}/${total ?? '*'}`),
  fc.string({ unit: 'binary', maxLength: 40 }),
)

type RangeInput = { readonly text: string, readonly lengthBytes: number }

export const rangesSurface = defineSurface<RangeInput>({
  name: 'ranges',
  title: 'piece ranges, Range and Content-Range headers',
  concurrency: 1,
  async setUp (): Promise<SurfaceInstance<RangeInput>> {
    return {
      arbitrary: fc.record({ text: rangeText, lengthBytes: fc.oneof(fc.nat({ max: 10_000_000 }), fc.constantFrom(0, 1, 2 ** 40)) }),
      send: async ({ text, lengthBytes }) => {
        const inside = (range: { start: number, end: number }): boolean => Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.start <= range.end && range.end < lengthBytes
        return await judge(() => {
          const header = parseRangeHeader(text, lengthBytes)
          if (typeof header === 'object' && !inside(header)) return `Range ${JSON.stringify(text)} of ${lengthBytes} bytes read as ${JSON.stringify(header)}`
          const proxy = parseProxyRangeHeader(text)
          if (proxy.kind === 'single' || proxy.kind === 'suffix') {
            const resolved = resolveRange(proxy, lengthBytes)
            if (resolved !== undefined && !inside(resolved)) return `dfdaemon Range ${JSON.stringify(text)} of ${lengthBytes} bytes read as ${JSON.stringify(resolved)}`
          }
          const content = parseContentRange(text)
          if (content !== undefined && !(content.range.start <= content.range.end && content.range.start >= 0)) return `Content-Range ${JSON.stringify(text)} read as ${JSON.stringify(content)}`
          const piece = parsePieceRange(text)
          if (!(piece.start <= piece.end && piece.start >= 0 && Number.isSafeInteger(piece.end))) return `piece range ${JSON.stringify(text)} read as ${JSON.stringify(piece)}`
          return undefined
        }, new Set(['DF_ERR_ARG_INVALID']))
      },
      checkHealth: async () => {},
      close: async () => {},
    }
  },
})

/** Text of a header value, with the control characters that must be refused. */
const headerValue = fc.string({ unit: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }, { weight: 1, arbitrary: fc.constantFrom('\r', '\n', '\u0000', '\t', '\u007f', '\u00e9', '\u2028', '\ud800') }), maxLength: 60 })
const headerFlag = fc.tuple(fc.oneof(fc.constantFrom('Authorization', 'X-Token', 'Range', 'Connection', 'Host', ''), fc.string({ maxLength: 10 })), fc.constantFrom(':', ': ', ' : ', '', '::'), headerValue).map(([name, sep, value]) => `${name}${sep}${value}`)
const FLAGS = ['-u', '--url', '-o', '--output', '-n', '--node', '--home', '-s', '--locallimit', '--totallimit', '-m', '--md5', '-i', '--identifier', '-f', '--filter', '--header', '--notbs', '-e', '--timeout', '-p', '--pattern', '--stream', '--window', '--alivetime', '--expiretime', '-b', '--verbose', '--ip', '--port', '--stalltimeout', '--token', '--recursive', '--s3-endpoint', '--s3-region', '--unknown', '-', '--']
const flagValue = fc.oneof(fc.constantFrom('http://127.0.0.1:1/f', 's3://b/k', '-', '127.0.0.1:8002', '127.0.0.1:8002=3', 'h:0', '20M', '0', '-1', '5m', 'x', '', 'p2p', 'cdn', 'source', '0123456789abcdef0123456789abcdef'), fc.string({ maxLength: 20 }))

type HeaderInput =
  | { readonly kind: 'argv', readonly argv: readonly string[] }
  | { readonly kind: 'source-headers', readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: 'grant', readonly edits: readonly { at: number, char: string, op: 'set' | 'insert' | 'delete' }[], readonly which: number, readonly raw: string | undefined }

export const headersSurface = defineSurface<HeaderInput>({
  name: 'headers',
  title: 'dfget command line and --header values, source headers, piece grant headers',
  concurrency: 1,
  async setUp (): Promise<SurfaceInstance<HeaderInput>> {
    const key = generateKeyPairSync('ed25519')
    const claims = { taskId: 'c'.repeat(64), peerId: 'peer-1', cid: 'cid-1', expiresAtMs: 2_000_000_000_000 }
    const grants = [signPieceGrant(claims, key.privateKey), signPieceGrant({ ...claims, expiresAtMs: 1 }, key.privateKey), signPieceGrant({ ...claims, taskId: 'd'.repeat(64) }, key.privateKey)]
    const argv = fc.array(fc.oneof({ weight: 3, arbitrary: fc.tuple(fc.constant('--header'), headerFlag) }, { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...FLAGS), flagValue) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom('server', 'version', 'config', 'help', 'default', 'check'), fc.constant('')) }), { maxLength: 6 })
      .map((pairs) => pairs.flat().filter((arg, i) => arg !== '' || i % 2 === 1))
    return {
      arbitrary: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('argv' as const), argv: fc.tuple(fc.constantFrom(['-u', 'http://127.0.0.1:1/f'], [] as string[]), argv).map(([a, b]) => [...a, ...b]) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('source-headers' as const), headers: fc.dictionary(fc.oneof(fc.constantFrom('Authorization', 'Connection', 'Transfer-Encoding', 'X-A'), fc.string({ unit: 'binary', maxLength: 10 })), headerValue, { maxKeys: 3 }) }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('grant' as const), edits: fc.array(fc.record({ at: fc.nat(), char: fc.constantFrom('A', '_', '-', '.', '=', 'z', '0', '\u00e9', ' '), op: fc.constantFrom('set', 'insert', 'delete') as fc.Arbitrary<'set' | 'insert' | 'delete'> }), { maxLength: 3 }), which: fc.nat({ max: grants.length - 1 }), raw: fc.option(fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('v1..', 'v1.e30.', `v1.${Buffer.from('{"t":1}').toString('base64url')}.AA`)), { nil: undefined, freq: 4 }) }) },
      ),
      send: async (input) => {
        if (input.kind === 'source-headers') return await judge(() => { checkSourceHeaders(input.headers, 'body.headers') }, new Set(['DF_ERR_ARG_INVALID']))
        if (input.kind === 'argv') {
          return await judge(() => {
            const command = parseCommandLine(input.argv, { writeOut: () => {}, writeErr: () => {} })
            if (command.kind === 'download') resolveDfgetConfig(command.options, '/tmp')
            if (command.kind === 'server') resolvePeerServerConfig(command.options)
          }, new Set(['DF_ERR_CONFIG_INVALID']))
        }
        const original = grants[input.which] ?? ''
        let text = input.raw ?? original
        for (const edit of input.edits) {
          const at = text.length === 0 ? 0 : edit.at % text.length
          text = edit.op === 'set' ? text.slice(0, at) + edit.char + text.slice(at + 1) : edit.op === 'insert' ? text.slice(0, at) + edit.char + text.slice(at) : text.slice(0, at) + text.slice(at + 1)
        }
        return await judge(() => {
          const verified = verifyPieceGrant(text, [key.publicKey], claims.taskId, 1_900_000_000_000)
          // Only the valid grant may open the task, and it says exactly what was signed.
          if (input.which !== 0 || input.raw !== undefined || JSON.stringify(verified) !== JSON.stringify(claims)) return `a changed grant verified: ${JSON.stringify(text)} → ${JSON.stringify(verified)}`
          return undefined
        }, new Set(['DF_ERR_PIECE_GRANT_REQUIRED', 'DF_ERR_PIECE_GRANT_INVALID']))
      },
      checkHealth: async () => {},
      close: async () => {},
    }
  },
})

type ConfigInput = { readonly program: 'supernode' | 'dfget' | 'dfdaemon', readonly text: string }

const settingValue = fc.oneof(
  fieldValue,
  fc.constantFrom('1s', '5m', '0s', '-1s', '1h', '10x', '20M', '1G', '0', '-5', '99999999999999999999', '127.0.0.1', '0.0.0.0', '::1', 'http://127.0.0.1:1', '[', '(?<', '.*', '127.0.0.1:8002', 'h:0=2'),
  fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('10.0.0.0/8', '*.x.org', '127.0.0.1:8002')), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('remote', 'ns_scheme', 'insecure', 'certs', 'cert', 'key', 'hosts', 'regx', 'x'), fc.oneof(fieldValue, fc.array(fc.record({ regx: fc.oneof(fc.constantFrom('.*', '[', 'a+$'), fieldValue), insecure: fieldValue, certs: fieldValue, direct: fieldValue, use_https: fieldValue }, { requiredKeys: [] }), { maxLength: 2 })), { maxKeys: 3 }),
)
const DFDAEMON_KEYS = ['port', 'listen', 'home', 'nodes', 'cacert', 'verbose', 'back_source', 'prefetch', 'registry_mirror', 'proxies', 'hijack_https']

function configText (keys: readonly string[]): fc.Arbitrary<string> {
  const mapping = fc.dictionary(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }), settingValue, { maxKeys: 4 })
  return fc.oneof(
    { weight: 6, arbitrary: mapping.map((value) => stringifyYaml(value)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => stringifyYaml(value)) },
    { weight: 1, arbitrary: fc.constantFrom('', '---\n', 'a: [', ': x', '&a [*a]', '!!binary x', 'port: !!js/function "x"', '- 1\n- 2', 'x: &a 1\ny: *a', '? [a]\n: b', '\t', 'port: 0x10', 'port: 1e3', 'home: ~') },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 120 }) },
  )
}

export const configFilesSurface = defineSurface<ConfigInput>({
  name: 'config-files',
  title: 'YAML configuration files of the supernode, dfget and dfdaemon',
  concurrency: 1,
  async setUp (): Promise<SurfaceInstance<ConfigInput>> {
    const dir = await createTmpDir('df-fuzz-config-', true)
    const path = join(dir.path, 'config.yml')
    return {
      arbitrary: fc.oneof(
        fc.record({ program: fc.constant('supernode' as const), text: configText(SETTING_NAMES) }),
        fc.record({ program: fc.constant('dfget' as const), text: configText(DFGET_CONFIG_KEYS) }),
        fc.record({ program: fc.constant('dfdaemon' as const), text: configText(DFDAEMON_KEYS) }),
      ),
      send: async (input) => {
        await writeFile(path, input.text)
        return await judge(async () => {
          if (input.program === 'supernode') resolveSupernodeConfig(await loadConfigFile(path))
          if (input.program === 'dfget') {
            const options = await loadDfgetConfigFile(path)
            resolveDfgetConfig({ url: 'http://127.0.0.1:1/f', ...options }, '/tmp')
            resolvePeerServerConfig(options)
          }
          if (input.program === 'dfdaemon') resolveDfdaemonConfig(await loadDfdaemonConfigFile(path))
        }, new Set(['DF_ERR_CONFIG_INVALID']))
      },
      checkHealth: async () => {},
      close: async () => { await dir.close() },
    }
  },
})
