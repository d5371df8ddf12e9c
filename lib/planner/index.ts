/** The resource manager (docs/PLANNER.md): model, loaders, managers, simulator, synthetic trace, reports. */
export * from './types';
export { loadHosts, loadRequests, parseHosts, parseRequestsCsv, parseRequestsJson, validateRequest, toCsv, REQUEST_FIELDS } from './load';
export type { Guest, GuestState, HostState, Manager, ManagerName, PlannerView, Decision } from './state';
export { managers, MANAGER_NAMES, fcfs, ruleBased, ruleBasedNoAging } from './managers';
export { simulate, DEFAULT_AGING_THRESHOLD_S } from './simulate';
export type { Action, LogEntry, Sample, PriorityStats, Summary, SimulationResult, SimulateOptions } from './simulate';
export { generateTrace, evalHostSet } from './trace';
export type { TraceOptions } from './trace';
export { formatLogEntry, formatSummaryTable, emitCommands } from './report';
export { plotRuns } from './plot';
