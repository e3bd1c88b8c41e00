/**
 * A progress line on stderr for interactive runs. It is drawn only when stderr is a terminal,
 * so timers and Dovecot's script service, which capture stderr, never get it in their logs.
 */

export interface Progress {
  /** Shows `done` of `total` items; redraws at most five times a second. */
  update(done: number, total: number): void;
  /** Clears the line. */
  finish(): void;
}

const REDRAW_INTERVAL_MS = 200;

/** Creates a progress line such as "fsreport: 120/3000 mailboxes"; a no-op unless `stream` is a terminal. */
export function createProgress(label: string, unit: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };

  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - lastDraw < REDRAW_INTERVAL_MS && done < total) return;
      lastDraw = now;
      drawn = true;
      stream.write(`\r\x1b[K${label}: ${done}/${total} ${unit}`);
    },
    finish() {
      if (drawn) stream.write("\r\x1b[K");
    },
  };
}
