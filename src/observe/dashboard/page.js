// What both status pages share (dashboard.js for one group, groups.js for many): times, table
// cells, the list of events, and the poll of /api/cluster every second. Plain browser JavaScript
// with no build step, loaded before the page's own script.
'use strict'

window.raftlogPage = (() => {
  const pollMs = 1000
  const updatedLine = document.getElementById('updated')
  const eventList = document.getElementById('events')

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false })
  }

  function cell(row, text, className) {
    const td = row.insertCell()
    td.textContent = text === undefined || text === null ? '' : String(text)
    if (className) td.className = className
    return td
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

  /** Fetches /api/cluster now and every second, and hands each view to `draw` (after the title, before the events). */
  function poll(draw) {
    async function refresh() {
      try {
        const response = await fetch('/api/cluster', { cache: 'no-store' })
        if (!response.ok) throw new Error(`HTTP ${response.status}`)
        const view = await response.json()
        document.getElementById('title').textContent = view.title
        document.title = view.title
        draw(view)
        drawEvents(view.events)
        updatedLine.textContent = view.updatedAt === 0 ? 'asking the nodes…' : `updated ${clock(view.updatedAt)}`
      } catch (error) {
        updatedLine.textContent = `the dashboard server does not answer (${error.message}); trying again`
      }
    }
    refresh()
    setInterval(refresh, pollMs)
  }

  return { clock, cell, poll }
})()
