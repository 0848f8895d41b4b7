// Exit statuses a supervisor (systemd, raftlog cluster --restart) tells apart.

/** `raftlog node` stopped because the cluster removed it: never restart it (node ids are not reused). */
export const removedExitStatus = 4
