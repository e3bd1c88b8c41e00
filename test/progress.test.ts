import { describe, expect, test } from "bun:test";

import { createProgress } from "../src/progress.ts";

function fakeStream(isTTY: boolean): { isTTY: boolean; written: string[]; write(text: string): void } {
  return {
    isTTY,
    written: [],
    write(text: string) {
      this.written.push(text);
    },
  };
}

describe("createProgress", () => {
  test("draws nothing when the stream is no terminal", () => {
    const stream = fakeStream(false);
    let now = 0;
    const progress = createProgress(true, stream, () => now);
    now = 10_000;
    progress.update("scanned 1/2");
    progress.clear();
    progress.finish();
    expect(stream.written).toEqual([]);
  });

  test("draws nothing when disabled", () => {
    const stream = fakeStream(true);
    let now = 0;
    const progress = createProgress(false, stream, () => now);
    now = 10_000;
    progress.update("scanned 1/2");
    expect(stream.written).toEqual([]);
  });

  test("redraws at most every 200 ms and erases before finishing", () => {
    const stream = fakeStream(true);
    let now = 1000;
    const progress = createProgress(true, stream, () => now);

    progress.update("scanned 1/9");
    expect(stream.written).toEqual([]);

    now = 1200;
    progress.update("scanned 2/9");
    now = 1300;
    progress.update("scanned 3/9");
    expect(stream.written).toEqual(["\r\x1b[Kscanned 2/9"]);

    progress.clear();
    progress.clear();
    expect(stream.written).toEqual(["\r\x1b[Kscanned 2/9", "\r\x1b[K"]);

    now = 1400;
    progress.update("scanned 4/9");
    progress.finish();
    now = 5000;
    progress.update("scanned 9/9");
    expect(stream.written).toEqual(["\r\x1b[Kscanned 2/9", "\r\x1b[K", "\r\x1b[Kscanned 4/9", "\r\x1b[K"]);
  });
});
