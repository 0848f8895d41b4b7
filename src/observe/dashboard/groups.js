// The many-group status page's script: polls /api/cluster every second and draws what it says
// (HostWatch's view). Plain browser JavaScript with no build step; Chart.js (window.Chart) is
// loaded before it.
'use strict'

const pollMs = 1000
const table = document.querySelector('#nodes tbody')
const catalogLine = document.getElementById('catalog')
const groupsLine = document.getElementById('groups')
const updatedLine = document.getElementById('updated')
const eventList = document.getElementById('events')
const colors = ['#2563eb', '#d97706', '#16a34a', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d']

const chart = new Chart(document.getElementById('leaders'), {
  type: 'line',
  data: { labels: [], datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    interaction: { mode: 'index', intersect: false },
    scales: { y: { beginAtZero: true, title: { display: true, text: 'groups led' } }, x: { ticks: { maxTicksLimit: 10 } } },
  },
})
// For the browser test and the curious: the chart the page draws.
window.raftlogChart = chart

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false })
}

function cell(row, text, className) {
  const td = row.insertCell()
  td.textContent = text === undefined || text === null ? '' : String(text)
  if (className) td.className = className
  return td
}

function drawNodes(nodes) {
  table.replaceChildren()
  for (const node of nodes) {
    const row = table.insertRow()
    row.dataset.node = String(node.id)
    row.dataset.leading = node.reachable ? String(node.leading) : ''
    cell(row, node.id)
    cell(row, node.address)
    if (!node.reachable) {
      row.className = 'unreachable'
      const reason = cell(row, `unreachable: ${node.error ?? 'no answer'}`)
      reason.colSpan = 5
      continue
    }
    if (node.catalogLeader) row.className = 'leader-row'
    cell(row, 'reachable')
    cell(row, node.groups, 'number')
    cell(row, node.leading, 'number')
    cell(row, node.quiet, 'number')
    cell(row, node.catalogLeader ? 'leads' : '')
  }
}

function drawHeader(view) {
  const leader = view.catalogLeader
  catalogLine.textContent = leader === null ? 'no node leads the group catalog' : `catalog leader: node ${leader}`
  catalogLine.classList.toggle('none', leader === null)
  catalogLine.dataset.leader = leader === null ? '' : String(leader)
  const { total, leaderless, leaderlessCount } = view.groups
  groupsLine.dataset.leaderless = String(leaderlessCount)
  groupsLine.textContent =
    leaderlessCount === 0
      ? `${total} groups, every one with a leader`
      : `${total} groups, ${leaderlessCount} without a leader: ${leaderless.join(', ')}${leaderlessCount > leaderless.length ? ', …' : ''}`
}

function drawHistory(nodes, history) {
  chart.data.labels = history.map((point) => clock(point.time))
  chart.data.datasets = nodes.map((node, i) => ({
    label: `node ${node.id}`,
    data: history.map((point) => point.leading[i] ?? 0),
    borderColor: colors[i % colors.length],
    pointRadius: 0,
    tension: 0,
  }))
  chart.update()
}

function drawEvents(events) {
  eventList.replaceChildren(
    ...events.map((event) => {
      const item = document.createElement('li')
      item.className = event.kind
      const time = document.createElement('time')
      time.textContent = clock(event.time)
      item.append(time, event.message)
      return item
    }),
  )
}

async function refresh() {
  try {
    const response = await fetch('/api/cluster', { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const view = await response.json()
    document.getElementById('title').textContent = view.title
    document.title = view.title
    drawHeader(view)
    drawNodes(view.nodes)
    drawHistory(view.nodes, view.history)
    drawEvents(view.events)
    updatedLine.textContent = view.updatedAt === 0 ? 'asking the nodes…' : `updated ${clock(view.updatedAt)}`
  } catch (error) {
    updatedLine.textContent = `the dashboard server does not answer (${error.message}); trying again`
  }
}

refresh()
setInterval(refresh, pollMs)
