// `raftlog cluster` starts its nodes with stdin as a pipe and this variable set. When the cluster
// process ends in any way, kill -9 included, the pipe closes and each node stops cleanly instead
// of living on as an orphan that holds its port.

export const parentPipeVariable = 'RAFTLOG_STOP_WITH_PARENT'

/**
 * Calls `stop` once stdin ends, when this process was started by `raftlog cluster`. Returns
 * the function that lets go of stdin again: a stdin being read keeps the process alive.
 */
export function onParentGone(stop: () => void): () => void {
  if (process.env[parentPipeVariable] !== '1') return () => {}
  const gone = (): void => {
    // stdout and stderr led to the parent too: what is written there now fails with EPIPE.
    const ignore = (): void => {}
    process.stdout.on('error', ignore)
    process.stderr.on('error', ignore)
    stop()
  }
  process.stdin.on('end', gone)
  process.stdin.on('error', gone)
  process.stdin.resume()
  return () => {
    process.stdin.removeListener('end', gone)
    process.stdin.removeListener('error', gone)
    process.stdin.destroy()
  }
}
