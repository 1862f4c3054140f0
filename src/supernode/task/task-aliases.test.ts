import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { TaskId } from '../../protocol/ids.js'
import { TaskAliases } from './task-aliases.js'

const id = (c: string): TaskId => c.repeat(64) as TaskId

test('aliases lead to their task, move when relinked, and go with their task', () => {
  const aliases = new TaskAliases()
  aliases.link(id('a'), id('t'))
  aliases.link(id('b'), id('t'))
  aliases.link(id('t'), id('t'))
  assert.equal(aliases.resolve(id('a')), id('t'))
  assert.equal(aliases.resolve(id('t')), id('t'))
  assert.deepEqual(aliases.aliasesOf(id('t')).sort(), [id('a'), id('b')])
  aliases.link(id('b'), id('u'))
  assert.deepEqual(aliases.aliasesOf(id('t')), [id('a')])
  aliases.dropTask(id('t'))
  assert.equal(aliases.resolve(id('a')), id('a'))
  assert.equal(aliases.resolve(id('b')), id('u'))
  aliases.dropTask(id('u'))
  assert.equal(aliases.size, 0)
})
