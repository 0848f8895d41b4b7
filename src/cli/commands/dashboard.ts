import { parseArgs } from 'node:util'
import type { Command } from '../command.js'
import { clientFrom, tlsHelp, tlsOptions } from '../endpoints.js'
import { portFrom } from '../port-option.js'
import { untilStopped } from '../until-stopped.js'
import { DashboardServer, defaultDashboardPort } from '../../observe/dashboard-server.js'
import { isLoopback } from '../../net/server/plaintext-warning.js'
import { loadClusterConfig } from '../../net/config/cluster-config.js'
import { GroupAdmin } from '../../net/client/group-admin.js'
import { adminFrom, hostCredentials } from '../host-admin.js'
import { runsManyGroups } from '../many-groups.js'

const help = `Usage: raftlog dashboard [--config FILE | --endpoints HOST:PORT,...] [--cacert FILE [--cert FILE --key FILE]]
                        [--port P] [--host H]

Serves a status page of a running cluster: every node (role, term, leader, commit and applied
index, lag, log range, disk bytes), writes and reads per second over the last ten minutes as a
chart, and the recent elections and leader changes. It asks every node for its status each
second (as raftlog status does), and the page refreshes itself. Ctrl-C stops it.

For a many-group cluster (cluster_settings.groups, or nodes that answer as many-group nodes) the
page shows every node's groups held, led and quiet, who leads the group catalog, the groups no
node knows a leader of, the groups each node led over the last ten minutes as a chart, and the
changes (a node lost or back, the catalog's leader moving). It needs --config: the nodes are
known by id.

Options:
  -c, --config FILE        the cluster configuration (default: cluster_config.yaml)
  --endpoints LIST         host:port of the nodes, instead of the configuration
${tlsHelp}
  --port P                 the page's port (default ${defaultDashboardPort}; 0: any free port)
  --host H                 the address to serve on (default 127.0.0.1; 0.0.0.0: every interface,
                           with a warning: the page has no authentication)
  -h, --help               show this help

The page's data, as JSON: /api/cluster. (raftlog cluster serves the same page.)

Example:
  raftlog dashboard -c cluster_config.yaml     # then open http://127.0.0.1:${defaultDashboardPort}/`

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'Serve a live status page (nodes, rates chart, elections) of a running cluster',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, endpoints: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, ...tlsOptions },
      strict: true,
    })
    const port = values.port === undefined ? defaultDashboardPort : portFrom(values.port, '--port')
    const title = `raftlog cluster ${values.endpoints ?? values.config ?? 'cluster_config.yaml'}`
    const host = values.host ?? '127.0.0.1'
    const cluster = values.endpoints === undefined ? loadClusterConfig(values.config ?? 'cluster_config.yaml') : undefined
    const manyGroups = cluster !== undefined && (await runsManyGroups(cluster, hostCredentials(cluster, values)))
    const client = manyGroups ? adminFrom(values, 2000) : clientFrom(values)
    try {
      const dashboard = client instanceof GroupAdmin ? await DashboardServer.startGroups(client, { host, port, title }) : await DashboardServer.start(client, { host, port, title })
      console.log(`dashboard of ${values.endpoints ?? values.config ?? 'cluster_config.yaml'} at ${dashboard.url} (Ctrl-C to stop)`)
      // The page asks no one for a certificate: served beyond this machine, it republishes what
      // the nodes tell only to clients they trust.
      if (!isLoopback(host)) console.error(`warning: the status page serves ${host}, which other machines may reach: anyone who can connect reads every node's status over plaintext HTTP, without a certificate, whatever TLS the cluster requires; serve it on 127.0.0.1 (the default) and reach it through an SSH tunnel`)
      await untilStopped()
      await dashboard.close()
      return 0
    } finally {
      client.close()
    }
  },
}
