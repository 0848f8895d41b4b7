// The status page's script: draws what /api/cluster says, every second (page.js polls it). Plain
// browser JavaScript with no build step; Chart.js (window.Chart) and page.js are loaded before it.
'use strict'

const { clock, cell, poll } = window.raftlogPage
const table = document.querySelector('#nodes tbody')
const leaderLine = document.getElementById('leader')

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

poll((view) => {
  drawLeader(view.leader)
  drawNodes(view.nodes)
  drawRates(view.rates)
})
