// The system tests run the compiled CLI and writer scripts (dist/): build them from the source
// under test first, so a bare `npx vitest` never tests a stale build.
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'

export default function buildDist(): void {
  const root = resolve(import.meta.dirname, '..', '..')
  execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, stdio: 'inherit' })
}
