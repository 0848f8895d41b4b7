// The many-group status page's script: draws what /api/cluster says (HostWatch's view), every
// second (page.js polls it). Plain browser JavaScript with no build step; Chart.js
// (window.Chart) and page.js are loaded before it.
'use strict'

const { clock, cell, poll } = window.raftlogPage
const table = document.querySelector('#nodes tbody')
const catalogLine = document.getElementById('catalog')
const groupsLine = document.getElementById('groups')
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

poll((view) => {
  drawHeader(view)
  drawNodes(view.nodes)
  drawHistory(view.nodes, view.history)
})
