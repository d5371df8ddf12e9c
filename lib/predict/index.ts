/**
 * The migration predictor (docs/PLANNER.md, "Predictor"): dirty-page models, the pre-copy
 * simulation, codec and machine profiles measured on real runs, and the cost of a migration.
 */
export * from './dirty-model';
export * from './simulate';
export * from './profile';
export * from './cost';
export * from './relocation';
