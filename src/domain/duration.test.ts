import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';
import { AppError } from './errors.ts';

describe('parseDuration', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('24h')).toBe(86_400);
    expect(parseDuration('7d')).toBe(604_800);
  });

  it('reads a plain number as seconds and 0 as unlimited', () => {
    expect(parseDuration('3600')).toBe(3600);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0d')).toBe(0);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseDuration(' 24h ')).toBe(86_400);
  });

  it.each(['', '  ', '1w', '-1', '1.5h', 'h', '24 h', '24H', '1e3', '0x10', '24hh', '١٢s'])(
    'rejects %j with INVALID_REQUEST',
    (text) => {
      expect(() => parseDuration(text)).toThrow(AppError);
      try {
        parseDuration(text);
      } catch (error) {
        expect((error as AppError).code).toBe('INVALID_REQUEST');
      }
    },
  );

  it.each(['9999999999', '999999999d', '99999999999999999999s'])('rejects the huge value %j', (text) => {
    expect(() => parseDuration(text)).toThrow(AppError);
  });

  it('accepts the largest duration a 32-bit column holds', () => {
    expect(parseDuration('2147483647')).toBe(2_147_483_647);
    expect(() => parseDuration('2147483648')).toThrow(AppError);
  });
});

describe('formatDuration', () => {
  it('uses the largest whole unit', () => {
    expect(formatDuration(604_800)).toBe('7d');
    expect(formatDuration(86_400)).toBe('1d');
    expect(formatDuration(7200)).toBe('2h');
    expect(formatDuration(900)).toBe('15m');
    expect(formatDuration(90)).toBe('90s');
    expect(formatDuration(0)).toBe('0s');
  });

  it('round-trips through parseDuration', () => {
    for (const seconds of [0, 1, 59, 60, 90, 3600, 86_400, 31_536_000]) {
      expect(parseDuration(formatDuration(seconds))).toBe(seconds);
    }
  });
});
