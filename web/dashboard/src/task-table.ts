/**
 * TaskTable: every task of the supernode — file, size, progress, state, peers, rate, peer
 * share, age — one row per task, kept by task id; a row is selected by click or keyboard.
 */
import type { DashboardTask } from '../../../src/protocol/messages/dashboard.js'
import { el, setText } from './dom.js'
import { formatAge, formatBytes, formatRate, formatShare, splitUrl } from './format.js'

interface Row {
  readonly tr: HTMLTableRowElement
  readonly name: HTMLElement
  readonly where: HTMLElement
  readonly size: HTMLElement
  readonly bar: HTMLElement
  readonly percent: HTMLElement
  readonly state: HTMLElement
  readonly clients: HTMLElement
  readonly rate: HTMLElement
  readonly share: HTMLElement
  readonly age: HTMLElement
  createdAtMs: number
}

export class TaskTable {
  readonly #body: HTMLTableSectionElement
  readonly #empty: HTMLElement
  readonly #onSelect: (taskId: string) => void
  readonly #rows = new Map<string, Row>()
  #selected: string | undefined
  #clockSkewMs = 0

  constructor (table: HTMLTableElement, empty: HTMLElement, onSelect: (taskId: string) => void) {
    this.#empty = empty
    this.#onSelect = onSelect
    const head = el('thead', '', [el('tr', '', ['File', 'Size', 'Progress', 'State', 'Peers', 'Rate', 'From peers', 'Age'].map((title) => el('th', '', title, { scope: 'col' })))])
    this.#body = el('tbody')
    table.append(head, this.#body)
  }

  /** Marks the selected row. */
  select (taskId: string | undefined): void {
    this.#selected = taskId
    for (const [id, row] of this.#rows) row.tr.setAttribute('aria-selected', String(id === taskId))
  }

  update (tasks: readonly DashboardTask[], generatedAt: string): void {
    this.#clockSkewMs = Date.now() - Date.parse(generatedAt)
    const seen = new Set<string>()
    const ordered = [...tasks].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
    for (const [index, task] of ordered.entries()) {
      seen.add(task.taskId)
      const row = this.#rows.get(task.taskId) ?? this.#createRow(task.taskId)
      this.#fill(row, task)
      if (this.#body.children[index] !== row.tr) this.#body.insertBefore(row.tr, this.#body.children[index] ?? null)
    }
    for (const [id, row] of this.#rows) {
      if (seen.has(id)) continue
      row.tr.remove()
      this.#rows.delete(id)
    }
    this.#empty.hidden = tasks.length > 0
    this.tickAges()
  }

  /** Refreshes the age column (once a second, between snapshots). */
  tickAges (): void {
    const nowMs = Date.now() - this.#clockSkewMs
    for (const row of this.#rows.values()) setText(row.age, formatAge(nowMs - row.createdAtMs))
  }

  #createRow (taskId: string): Row {
    const name = el('span', 'file-name')
    const where = el('span', 'file-where')
    const bar = el('span', 'bar-fill')
    const percent = el('span', 'bar-text')
    const cells = {
      file: el('td', 'file', [name, where]),
      size: el('td', 'num'),
      progress: el('td', 'progress', [el('span', 'bar', [bar]), percent]),
      state: el('td', 'state', [el('span', 'badge')]),
      clients: el('td', 'num'),
      rate: el('td', 'num'),
      share: el('td', 'num'),
      age: el('td', 'num'),
    }
    const tr = el('tr', 'task-row', Object.values(cells), { tabindex: '0', 'data-task-id': taskId, 'aria-selected': String(taskId === this.#selected) })
    tr.addEventListener('click', () => { this.#onSelect(taskId) })
    tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); this.#onSelect(taskId) }
    })
    const row: Row = {
      tr, name, where, bar, percent,
      size: cells.size,
      state: cells.state.firstElementChild as HTMLElement, // created just above
      clients: cells.clients,
      rate: cells.rate,
      share: cells.share,
      age: cells.age,
      createdAtMs: 0,
    }
    this.#rows.set(taskId, row)
    return row
  }

  #fill (row: Row, task: DashboardTask): void {
    const { name, where } = splitUrl(task.url)
    setText(row.name, name)
    setText(row.where, where)
    row.tr.title = task.url
    setText(row.size, formatBytes(task.fileLengthBytes))
    row.bar.style.setProperty('width', `${(task.progress * 100).toFixed(1)}%`)
    setText(row.percent, formatShare(task.progress))
    const shown = displayState(task)
    setText(row.state, shown.label)
    row.state.dataset.state = shown.tone
    row.state.title = task.failure ?? `task ${task.state}; CDN cache ${task.cachedPieces}/${task.pieceCount} pieces`
    setText(row.clients, task.clients === 0 ? '0' : `${task.clientsDone}/${task.clients}${task.clientsFailed > 0 ? ` (${task.clientsFailed} failed)` : ''}`)
    setText(row.rate, formatRate(task.rateBytesPerSec))
    setText(row.share, task.bytes.deliveredBytes === 0 ? '–' : formatShare(task.bytes.peerShare))
    row.createdAtMs = Date.parse(task.createdAt)
    row.tr.dataset.progress = String(task.progress)
  }
}

/**
 * What a user wants to read in the State column: the swarm's state, not only the task's
 * lifecycle at the supernode (which is `success` as soon as the CDN holds every piece).
 */
function displayState (task: DashboardTask): { label: string, tone: 'running' | 'success' | 'failed' | 'idle' } {
  if (task.state === 'failed') return { label: 'failed', tone: 'failed' }
  if (task.state === 'pending') return { label: 'starting', tone: 'running' }
  if (task.clients > task.clientsDone + task.clientsFailed) return { label: 'downloading', tone: 'running' }
  if (task.clientsFailed > 0) return { label: 'done, some failed', tone: 'failed' }
  if (task.clients > 0) return { label: 'done', tone: 'success' }
  return task.state === 'success' ? { label: 'cached', tone: 'idle' } : { label: 'caching', tone: 'running' }
}
