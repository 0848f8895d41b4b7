// The status page in a real browser: Debian's Chromium, driven by playwright-core, on the page
// `raftlog cluster` serves for its three `raftlog node` processes. The leader is killed and the
// page must show the new one by itself.
import { afterEach, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chromium, type BrowserContext } from 'playwright-core'
import { cliPath } from '../helpers/cli.js'
import { exited, waitFor, writeConfig } from '../helpers/processes.js'
import { tempDir } from '../helpers/temp-dir.js'

const chromiumPath = '/usr/bin/chromium'

/** Debian's Chromium, headless, with a fresh profile and nothing that reaches for the internet. */
async function launchBrowser(): Promise<BrowserContext> {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (.ci/run does)`)
  return chromium.launchPersistentContext(tempDir('raftlog-chromium-'), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

describe('the status page (raftlog cluster serves it) in Chromium', () => {
  it('shows every node and the leader, and the new leader after the leader is killed', async () => {
    // Chromium takes seconds to start: meanwhile, the cluster does too.
    const launching = launchBrowser()
    cleanups.push(async () => (await launching).close())
    const dir = tempDir('raftlog-dashboard-')
    const { path: config } = await writeConfig(dir, 3)
    const cluster = spawn(process.execPath, [cliPath, 'cluster', '--config', config, '--dashboard-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanups.push(async () => {
      cluster.kill('SIGINT')
      await exited(cluster)
    })
    let printed = ''
    cluster.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()))
    cluster.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()))
    const url = await waitFor('the dashboard URL', async () => /cluster: dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(printed)?.[1])
    const pids = new Map([...printed.matchAll(/cluster: node (\d) is process (\d+)/g)].map((match) => [Number(match[1]), Number(match[2])]))
    expect([...pids.keys()]).toEqual([1, 2, 3])

    const page = await (await launching).newPage()
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text())
    })
    await page.goto(url)

    // In-page code is given as text: this project compiles without the DOM's types.
    const shownLeader = "document.querySelector('#leader').dataset.leader"
    await page.waitForFunction(`/^\\d+$/.test(${shownLeader})`)
    const leader = Number(await page.getAttribute('#leader', 'data-leader'))
    expect(await page.textContent('#leader')).toMatch(new RegExp(`^leader: node ${leader} \\(term \\d+\\)$`))
    const roles = await page.$$eval('#nodes tbody tr', (rows) => rows.map((row) => [row.getAttribute('data-node'), row.getAttribute('data-role')]))
    expect(roles.map(([id]) => id)).toEqual(['1', '2', '3'])
    expect(roles.filter(([, role]) => role === 'leader')).toEqual([[String(leader), 'leader']])

    process.kill(pids.get(leader)!, 'SIGKILL')
    await page.waitForFunction(`/^\\d+$/.test(${shownLeader}) && ${shownLeader} !== '${leader}'`, undefined, { timeout: 30_000 })
    const next = Number(await page.getAttribute('#leader', 'data-leader'))
    expect(next).not.toBe(leader)
    await page.waitForSelector(`#nodes tr[data-node="${leader}"][data-role="unreachable"]`)
    expect(await page.getAttribute(`#nodes tr[data-node="${next}"]`, 'data-role')).toBe('leader')
    expect(await page.textContent('#events')).toMatch(new RegExp(`node ${next} elected leader for term \\d+`))
    // The chart is Chart.js's, served from the installed package, with the rates drawn.
    await page.waitForFunction('window.raftlogChart.data.datasets[0].data.length > 0')
    expect(await page.evaluate('typeof window.Chart')).toBe('function')
    expect(problems).toEqual([])
  }, 90_000)

  it('shows a many-group cluster: every node\'s groups held and led, the catalog\'s leader, and a node that stops', async () => {
    const launching = launchBrowser()
    cleanups.push(async () => (await launching).close())
    const dir = tempDir('raftlog-dashboard-groups-')
    const { path: config } = await writeConfig(dir, 3)
    const cluster = spawn(process.execPath, [cliPath, 'cluster', '--config', config, '--groups', '6', '--dashboard-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanups.push(async () => {
      cluster.kill('SIGINT')
      await exited(cluster)
    })
    let printed = ''
    cluster.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()))
    cluster.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()))
    const url = await waitFor('the dashboard URL', async () => /cluster: dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(printed)?.[1])
    const pids = new Map([...printed.matchAll(/cluster: node (\d) is process (\d+)/g)].map((match) => [Number(match[1]), Number(match[2])]))

    const page = await (await launching).newPage()
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text())
    })
    await page.goto(url)
    // Every group led, on three reachable nodes that hold all six (three replicas each).
    await page.waitForFunction("document.querySelector('#groups').textContent === '6 groups, every one with a leader'", undefined, { timeout: 30_000 })
    await page.waitForFunction("/^\\d+$/.test(document.querySelector('#catalog').dataset.leader)")
    // Every node answering (under load a node may miss a poll's one-second deadline now and then).
    await page.waitForFunction("document.querySelectorAll('#nodes tbody tr:not(.unreachable)').length === 3", undefined, { timeout: 30_000 })
    // A node answers before it has opened all its groups: wait for every row to fill (or the
    // deadline), then assert what the last poll showed.
    const readRows = () => page.$$eval('#nodes tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-node'), tr.getAttribute('data-leading'), tr.cells[3]?.textContent]))
    const filled = (shown: (string | null | undefined)[][]) => shown.every(([, , held]) => held === '6') && shown.reduce((sum, [, leading]) => sum + Number(leading), 0) === 6
    let rows = await readRows()
    for (const deadline = Date.now() + 30_000; !filled(rows) && Date.now() < deadline; rows = await readRows()) await new Promise((resolve) => setTimeout(resolve, 200))
    expect(rows.map(([id]) => id)).toEqual(['1', '2', '3'])
    expect(rows.map(([, , held]) => held)).toEqual(['6', '6', '6'])
    expect(rows.reduce((sum, [, leading]) => sum + Number(leading), 0)).toBe(6)

    const catalogLeader = await page.getAttribute('#catalog', 'data-leader')
    const stopped = [...pids.keys()].find((id) => String(id) !== catalogLeader)!
    process.kill(pids.get(stopped)!, 'SIGKILL')
    await page.waitForSelector(`#nodes tr.unreachable[data-node="${stopped}"]`, { timeout: 30_000 })
    await page.waitForFunction(`document.querySelector('#events').textContent.includes('node ${stopped} does not answer')`)
    await page.waitForFunction('window.raftlogChart.data.datasets.length === 3 && window.raftlogChart.data.datasets[0].data.length > 0')
    expect(problems).toEqual([])
  }, 90_000)
})
