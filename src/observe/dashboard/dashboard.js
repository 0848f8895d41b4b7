// The status page's script: polls /api/cluster every second and draws what it says. Plain
// browser JavaScript with no build step; Chart.js (window.Chart) is loaded before it.
'use strict'

const pollMs = 1000
const table = document.querySelector('#nodes tbody')
const leaderLine = document.getElementById('leader')
const updatedLine = document.getElementById('updated')
const eventList = document.getElementById('events')

const chart = new Chart(document.getElementById('rates'), {
  type: 'line',
  data: {
    labels: [],
    datasets: [
      { label: 'writes/s (entries committed)', data: [], borderColor: '#2563eb', backgroundColor: 'rgba(37, 99, 235, 0.1)', fill: true, pointRadius: 0, tension: 0 },
      { label: 'reads/s', data: [], borderColor: '#d97706', backgroundColor: 'rgba(217, 119, 6, 0.1)', fill: true, pointRadius: 0, tension: 0 },
    ],
  },
  options: {
    animation: false,
    maintainAspectRatio: false,
    interaction: { mode: 'index', intersect: false },
    scales: { y: { beginAtZero: true, title: { display: true, text: 'per second' } }, x: { ticks: { maxTicksLimit: 10 } } },
  },
})
// For the browser test and the curious: the chart the page draws.
window.raftlogChart = chart

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false })
}

function bytes(n) {
  if (n === undefined) return ''
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
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
    row.dataset.node = String(node.id ?? node.address)
    row.dataset.role = node.reachable ? node.role : 'unreachable'
    if (!node.reachable) {
      row.className = 'unreachable'
      cell(row, node.id ?? '?')
      cell(row, node.address)
      const reason = cell(row, `unreachable: ${node.error ?? 'no answer'}`)
      reason.colSpan = 9
      continue
    }
    if (node.role === 'leader') row.className = 'leader-row'
    cell(row, node.id)
    cell(row, node.address)
    cell(row, node.role, 'role')
    cell(row, node.term)
    cell(row, node.leaderId === 0 ? 'unknown' : node.leaderId)
    cell(row, node.commitIndex, 'number')
    cell(row, node.lastApplied, 'number')
    cell(row, node.lag, 'number')
    cell(row, node.lastIndex < node.firstIndex ? `empty (next ${node.firstIndex})` : `${node.firstIndex}..${node.lastIndex}`)
    cell(row, bytes(node.diskBytes), 'number')
    // A node paused on a full disk is there, but appends nothing until it has room.
    const state = cell(row, node.diskFull ? 'DISK FULL: writes paused' : 'reachable')
    if (node.diskFull) state.title = node.diskFullReason ?? ''
  }
}

function drawLeader(leader) {
  leaderLine.textContent = leader === null ? 'no leader' : `leader: node ${leader.id} (term ${leader.term})`
  leaderLine.classList.toggle('none', leader === null)
  leaderLine.dataset.leader = leader === null ? '' : String(leader.id)
}

function drawRates(rates) {
  chart.data.labels = rates.map((point) => clock(point.time))
  chart.data.datasets[0].data = rates.map((point) => Math.round(point.writesPerSecond * 10) / 10)
  chart.data.datasets[1].data = rates.map((point) => Math.round(point.readsPerSecond * 10) / 10)
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
    drawLeader(view.leader)
    drawNodes(view.nodes)
    drawRates(view.rates)
    drawEvents(view.events)
    updatedLine.textContent = view.updatedAt === 0 ? 'asking the nodes…' : `updated ${clock(view.updatedAt)}`
  } catch (error) {
    updatedLine.textContent = `the dashboard server does not answer (${error.message}); trying again`
  }
}

refresh()
setInterval(refresh, pollMs)
