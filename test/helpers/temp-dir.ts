import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterEach } from 'vitest'

const made: string[] = []

/** A fresh temporary directory, removed after the current test. */
export function tempDir(prefix = 'raftlog-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

afterEach(() => {
  const dirs = made.splice(0)
  if (dirs.length === 0) return
  // `raftlog repair DIR` keeps what it cut beside DIR, in DIR.repair-<time>: those go too.
  const backups = new Set(dirs.map((dir) => `${basename(dir)}.repair-`))
  const beside = readdirSync(tmpdir()).filter((name) => [...backups].some((backup) => name.startsWith(backup)))
  for (const dir of [...dirs, ...beside.map((name) => join(tmpdir(), name))]) rmSync(dir, { recursive: true, force: true })
})
