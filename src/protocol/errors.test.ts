import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { DfError, ERROR_CODES, fromWire, isCode, toWire } from './errors.js'

test('docs/errors.md has a section for every code of the table and no other', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const documented = [...doc.matchAll(/^## (DF_ERR_[A-Z0-9_]+)$/gm)].map((m) => m[1])
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort())
})

test('every code follows DF_ERR_<AREA>_<CONDITION> with a known area', () => {
  const areas = ['ARG', 'CONFIG', 'TASK', 'PEER', 'PIECE', 'SOURCE', 'CDN', 'UPLOAD', 'PROXY', 'NETWORK', 'TIMEOUT', 'INTERNAL']
  for (const code of Object.keys(ERROR_CODES)) {
    const area = code.replace(/^DF_ERR_/, '').split('_')[0] ?? ''
    assert.ok(areas.includes(area), `${code} has an unknown area`)
  }
})

test('an error survives the wire with its code, details and remote facts', () => {
  const err = new DfError('DF_ERR_SOURCE_STATUS', 'source answered 404', { details: { status: 404 } })
  const remote = { url: 'http://127.0.0.1:1/x', method: 'GET', status: 502 }
  const back = fromWire(JSON.parse(JSON.stringify(toWire(err))), remote)
  assert.ok(isCode(back, 'DF_ERR_SOURCE_STATUS'))
  assert.equal(back.httpStatus, 502)
  assert.deepEqual(back.details, { status: 404 })
  assert.deepEqual(back.remote, remote)
  assert.equal(fromWire({ code: 'NOT_OURS', message: 'x' }, remote), undefined)
  assert.equal(fromWire('text', remote), undefined)
})
