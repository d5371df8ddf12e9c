/**
 * The cost of one migration, after Liu et al., "Performance and Energy Modeling for Live
 * Migration of Virtual Machines" (HPDC 2011):
 *
 *   C = a * Tdown + b * Tmig + c * Vmig + d * Emig
 *
 * with Tdown and Tmig in seconds, Vmig in MiB on the wire, and Emig in joules from their
 * linear energy model E = alpha * Vmig + beta: the energy the two hosts draw above idle for
 * a migration grows with the bytes moved (network cards and CPUs busy moving them), plus a
 * constant for starting and finishing it. Their fitted values on a Xen testbed are the
 * defaults (alpha 0.512 J/MB, beta 20.165 J); both are settings, as are the weights.
 */
import { ErrorCodes, PagepressError } from '../errors';
import type { Prediction } from './simulate';

/** Weights of the cost terms (defaults: all 1, so C is in "seconds + MiB + joules"). */
export interface CostWeights {
  /** Per second of downtime. */
  a: number;
  /** Per second of total migration time. */
  b: number;
  /** Per MiB on the wire. */
  c: number;
  /** Per joule of migration energy. */
  d: number;
}

/** Liu et al.'s linear energy model: E = alpha * MB + beta joules. */
export interface EnergyModel {
  alphaJoulesPerMB: number;
  betaJoules: number;
}

/** Default weights: one unit per second, per MiB and per joule. */
export const DEFAULT_WEIGHTS: CostWeights = { a: 1, b: 1, c: 1, d: 1 };

/** Liu et al.'s fitted values (HPDC 2011, Xen, 1 Gbit/s). */
export const DEFAULT_ENERGY: EnergyModel = { alphaJoulesPerMB: 0.512, betaJoules: 20.165 };

/** The cost and its terms. */
export interface MigrationCost {
  cost: number;
  energyJ: number;
  terms: { downtime: number; time: number; volume: number; energy: number };
}

const MiB = 1024 * 1024;

/** Energy of moving `wireBytes`, in joules (the linear model). */
export function migrationEnergy(wireBytes: number, e: EnergyModel = DEFAULT_ENERGY): number {
  return e.alphaJoulesPerMB * (wireBytes / MiB) + e.betaJoules;
}

/**
 * The cost of a predicted (or measured) migration.
 * @throws PagepressError PP_ERR_ARG for a negative or non-finite weight
 */
export function migrationCost(p: Pick<Prediction, 'downtimeMs' | 'totalMs' | 'wireBytes'>, weights: Partial<CostWeights> = {}, energy: EnergyModel = DEFAULT_ENERGY): MigrationCost {
  const w = { ...DEFAULT_WEIGHTS, ...weights };
  for (const [k, v] of Object.entries(w)) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new PagepressError(`cost weight ${k} must be a number >= 0, got ${v}`, ErrorCodes.ARG);
  }
  const energyJ = migrationEnergy(p.wireBytes, energy);
  const terms = { downtime: w.a * (p.downtimeMs / 1000), time: w.b * (p.totalMs / 1000), volume: w.c * (p.wireBytes / MiB), energy: w.d * energyJ };
  return { cost: terms.downtime + terms.time + terms.volume + terms.energy, energyJ, terms };
}
