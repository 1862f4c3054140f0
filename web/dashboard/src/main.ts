/**
 * The swarm dashboard page: one live stream of snapshots from the supernode that served
 * the page, rendered into the totals, the task table and the selected task's peers. The
 * selected task is in the URL hash (`#task=<taskId>`), so a view can be shared; without
 * one, the newest task is shown.
 */
import './style.css'
import type { DashboardSnapshot } from '../../../src/protocol/messages/dashboard.js'
import { byId, setText } from './dom.js'
import { FeedClient, type FeedState } from './feed-client.js'
import { TaskDetail } from './task-detail.js'
import { TaskTable } from './task-table.js'
import { TokenStore } from './token-store.js'
import { TotalsView } from './totals-view.js'

const tokens = new TokenStore()
tokens.adoptFromUrl()

const connection = byId('connection')
const connectionText = byId('connection-text')
const tokenForm = byId<HTMLFormElement>('token-form')
const tokenInput = byId<HTMLInputElement>('token-input')
const detailEmpty = byId('detail-empty')
const detailBody = byId('detail-body')
const detailTitle = byId('detail-title')

const totals = new TotalsView(byId('totals'))
const detail = new TaskDetail()
detailBody.append(detail.element)

let selection = selectionFromHash()
let isSelectionExplicit = selection !== undefined

const table = new TaskTable(byId<HTMLTableElement>('tasks'), byId('tasks-empty'), (taskId) => {
  isSelectionExplicit = true
  select(taskId)
})

const feed = new FeedClient({ onSnapshot: render, onState: showState }, () => tokens.current())

function selectionFromHash (): string | undefined {
  const match = /^#task=([0-9a-f]{64})$/.exec(window.location.hash)
  return match?.[1]
}

function select (taskId: string | undefined): void {
  if (taskId === selection) return
  selection = taskId
  if (taskId !== undefined && isSelectionExplicit) window.history.replaceState(window.history.state, '', `#task=${taskId}`)
  table.select(taskId)
  feed.open(taskId)
}

function render (snapshot: DashboardSnapshot): void {
  totals.update(snapshot)
  table.update(snapshot.tasks, snapshot.generatedAt)
  if (!isSelectionExplicit) {
    const newest = [...snapshot.tasks].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0]
    if (newest !== undefined && newest.taskId !== selection) { select(newest.taskId); return }
  }
  table.select(selection)
  const task = snapshot.tasks.find((item) => item.taskId === selection)
  const selected = snapshot.selected
  if (task === undefined || selected === undefined || selected.taskId !== task.taskId) {
    detailEmpty.hidden = false
    detailBody.hidden = true
    setText(detailTitle, 'Peers')
    setText(detailEmpty, snapshot.tasks.length === 0 ? 'Peers of a task appear here once it has one.' : 'Select a task to see its peers.')
    return
  }
  detailEmpty.hidden = true
  detailBody.hidden = false
  setText(detailTitle, `Peers (${selected.clients.length})`)
  detail.update(task, selected)
}

function showState (state: FeedState, text: string): void {
  connection.dataset.state = state
  setText(connectionText, text)
  tokenForm.hidden = state !== 'token'
  if (state === 'token') tokenInput.focus()
}

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const token = tokenInput.value.trim()
  if (token === '') return
  tokens.set(token)
  tokenInput.value = ''
  feed.open(selection)
})

window.addEventListener('hashchange', () => {
  const fromHash = selectionFromHash()
  if (fromHash === undefined) return
  isSelectionExplicit = true
  select(fromHash)
})

// Ages move between snapshots; piece maps follow the width of the window and its colours.
setInterval(() => { table.tickAges() }, 1_000)
new ResizeObserver(() => { detail.redraw() }).observe(detailBody)
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { detail.redraw() })
window.addEventListener('beforeunload', () => { feed.close() })

table.select(selection)
feed.open(selection)
