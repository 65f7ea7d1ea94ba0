import cliProgress from 'cli-progress';

/** A progress bar on stderr when it is a terminal and output is for a person; otherwise nothing. */
export function createProgress(options: { json: boolean; label: string; total: number }): {
  update(done: number): void;
  stop(): void;
} {
  if (options.json || !process.stderr.isTTY || options.total <= 0)
    return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      format: `${options.label} [{bar}] {percentage}% | {value_mb}/{total_mb} MB | {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const mb = (n: number): string => (n / 1048576).toFixed(1);
  bar.start(options.total, 0, { value_mb: mb(0), total_mb: mb(options.total) });
  return {
    update: (done) => bar.update(done, { value_mb: mb(done) }),
    stop: () => bar.stop(),
  };
}
