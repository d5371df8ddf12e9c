/** First come, first served: the baseline. Private cloud only, strict arrival order. */
import { Manager, needOf } from '../state';

/**
 * FCFS: the oldest request starts when it fits (first fit in host order); until then it
 * blocks every request behind it. No priorities, no migration, no public cloud.
 */
export const fcfs: Manager = {
  name: 'fcfs',
  description: 'first come, first served on the private cloud; head of line blocks; no migration',
  aging: false,
  order: 'arrival',
  decide(g, view) {
    const host = view.firstFit(g, needOf(g.req));
    if (host) return { action: 'allocate', host, reason: `fits on ${host.spec.name} (first fit)` };
    return { action: 'wait', reason: 'private cloud full; head of the FIFO queue blocks the rest', block: true };
  },
};
