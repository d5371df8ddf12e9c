/**
 * Pre-copy live migration: guests (what is migrated), links (emulated networks), the
 * sender and receiver, their protocol, stop policies and reports. docs/MIGRATION.md.
 */
/** Guest memory interface and helpers. */
export * from './guest';
/** Simulated, trace-replaying and file guests; --guest specs; workloads. */
export * from './guests/simulated-guest';
export * from './guests/trace-guest';
export * from './guests/file-guest';
export * from './guests/parse';
export { WORKLOADS, WORKLOAD_NAMES, isWorkloadName } from './guests/workloads';
export type { WorkloadName, WorkloadInfo } from './guests/workloads';
/** Emulated links (kernel namespaces + tbf, or a userspace token bucket). */
export * from './link';
/** The migration itself. */
export * from './protocol';
export * from './policy';
export * from './metrics';
export * from './sender';
export { defaultCacheSlots } from './defaults';
export * from './receiver';
/** Plain TCP only on loopback unless `insecure` (the network's secure default). */
export { isLoopbackHost, checkPlainTcp } from './loopback';
/** TLS for the migration connection (server and client auth, one-line errors). */
export { tlsAcceptOne, tlsConnect } from './tls';
export type { TlsServerConfig, TlsClientConfig, TlsAcceptOptions, TlsConnectOptions } from './tls';
