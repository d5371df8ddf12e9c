/** Value parsers shared by the commands' options (commander argParsers: exit 2 on a bad value). */
import { InvalidArgumentError } from 'commander';

/** A finite number > 0. */
export function positive(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

/** A finite number >= 0. */
export function nonNegative(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0.');
  return n;
}
