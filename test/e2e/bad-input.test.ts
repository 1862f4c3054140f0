/**
 * Bad input with the real binaries (issue 16): a wrong `--md5` ends in
 * DF_ERR_TASK_MD5_MISMATCH (exit 4) every time, never in a crash; a header value carrying
 * CR or LF is refused before anything is fetched (dfget exit 2, the supernode API a 4xx),
 * and spoils nothing for the next client of the URL.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

const MiB = 1024 * 1024
const WRONG_MD5 = '0123456789abcdef0123456789abcdef'

test('a wrong --md5 ends with DF_ERR_TASK_MD5_MISMATCH and exit 4 on every run, also from a source that closes each connection', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  // `Connection: close`: the back-source read after the mismatch ends with the server's FIN,
  // which crashed dfget (undici's assert(!this.paused)) in about one run of five.
  const origin = stack.push(await startOrigin({ files: { '/m.bin': { data: createTestData(MiB, 161), headers: { connection: 'close' } } } }))
  const dir = stack.push(await createTmpDir('df-md5-')).path
  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const runs = 20
  const outcomes: string[] = []
  for (let i = 0; i < runs; i += 2) {
    const pair = await Promise.all([i, i + 1].map(async (n) => await runDfgetProcess(['-u', origin.url('/m.bin'), '-o', join(dir, `out${n}`), '-n', sn.node, '--home', home, '--md5', WRONG_MD5])))
    for (const run of pair) outcomes.push(run.exitCode === 4 && /^dfget: error DF_ERR_TASK_MD5_MISMATCH: [^\n]*\n$/m.test(run.stderr) && !run.stderr.includes('    at ') ? 'mismatch' : `exit ${run.exitCode}: ${run.stderr}`)
  }
  assert.deepEqual(outcomes.filter((outcome) => outcome !== 'mismatch'), [], `${outcomes.filter((o) => o === 'mismatch').length} of ${runs} runs ended with the mismatch`)
  for (let n = 0; n < runs; n++) await assert.rejects(access(join(dir, `out${n}`)), 'nothing is written to the output path')
})
