import { AppError } from './errors.ts';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Durations are stored in 32-bit integer columns (PostgreSQL `integer`), so nothing longer parses. */
const MAX_SECONDS = 2_147_483_647;

/** Parses `90s`, `15m`, `24h`, `7d` (or a bare number of seconds) into seconds; `0` means unlimited. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,10})([smhd]?)$/.exec(text.trim());
  const unit = (match?.[2] || 's') as keyof typeof UNIT_SECONDS;
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[unit] : Number.NaN;
  if (!(seconds <= MAX_SECONDS)) {
    throw new AppError('INVALID_REQUEST', {
      message: `Invalid duration "${text}": use a number with s, m, h or d (e.g. 24h), at most ${MAX_SECONDS}s.`,
    });
  }
  return seconds;
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
