/** Assertions on the dfget runs of the fault scenarios (test/harness/fault-fixture.ts). */
import assert from 'node:assert/strict'
import { sha256Hex } from './origin.js'
import type { DfgetOutcome } from './fault-fixture.js'

function tail (text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ')
}

/** The run exited 0 and its output holds exactly `data`. */
export function assertCompleted (label: string, outcome: DfgetOutcome, data: Buffer): void {
  assert.equal(outcome.exitCode, 0, `${label}: exit ${outcome.exitCode}: ${tail(outcome.stderr)}`)
  assert.equal(outcome.outputDigest, sha256Hex(data), `${label} completes with the source's bytes`)
}

/** The run failed cleanly: non-zero exit, `codePattern` on its last `dfget:` line, no output. */
export function assertFailedCleanly (label: string, outcome: DfgetOutcome, codePattern: RegExp): void {
  assert.notEqual(outcome.exitCode, 0, `${label} exits non-zero`)
  assert.match(outcome.lastLine, codePattern, `${label}: ${tail(outcome.stderr)}`)
  assert.equal(outcome.outputDigest, undefined, `${label} leaves no output`)
}
