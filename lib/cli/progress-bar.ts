/** A one-line progress bar on stderr (redrawn in place on a TTY, a line every 10% otherwise). */
export function createProgressBar(label: string, total: number): { update(done: number, note?: string): void; finish(note?: string): void } {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  const render = (done: number, note = ''): string => {
    const width = 30;
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(ratio * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${(ratio * 100).toFixed(0)}% ${note}`;
  };
  return {
    update(done, note) {
      if (tty) process.stderr.write(`\r${render(done, note)}\x1b[K`);
      else {
        const decile = total === 0 ? 10 : Math.floor((done / total) * 10);
        if (decile !== lastDecile) {
          lastDecile = decile;
          process.stderr.write(`${render(done, note)}\n`);
        }
      }
    },
    finish(note) {
      if (tty) process.stderr.write(`\r${render(total, note)}\x1b[K\n`);
      else process.stderr.write(`${render(total, note)}\n`);
    },
  };
}
