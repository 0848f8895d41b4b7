#!/usr/bin/env node
import './quiet-warnings.js'
import { runRaftlog } from './run.js'

// `raftlog dump DIR | head`: a reader that has had enough is no error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error
  process.exit(process.exitCode ?? 0)
})

runRaftlog(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
