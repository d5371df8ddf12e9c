/** The managers, by name (an ops table: each is one object with its decision hook). */
import { Manager, ManagerName } from '../state';
import { fcfs } from './fcfs';
import { ruleBased, ruleBasedNoAging } from './rule-based';

/** Every manager, in report order (baseline first). */
export const managers: ReadonlyMap<ManagerName, Manager> = new Map([fcfs, ruleBasedNoAging, ruleBased].map((m) => [m.name, m] as const));

/** Manager names, in report order. */
export const MANAGER_NAMES: readonly ManagerName[] = [...managers.keys()];

export { fcfs, ruleBased, ruleBasedNoAging };
