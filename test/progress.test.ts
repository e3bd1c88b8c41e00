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
    const progress = createProgress("scan", "mailboxes", stream, () => 10_000);
    progress.update(1, 2);
    progress.clear();
    progress.finish();
    expect(stream.written).toEqual([]);
  });

  test("redraws at most every 200 ms and always at the end", () => {
    const stream = fakeStream(true);
    let now = 1000;
    const progress = createProgress("scan", "mailboxes", stream, () => now);

    progress.update(1, 9);
    now = 1100;
    progress.update(2, 9);
    expect(stream.written).toEqual(["\r\x1b[Kscan: 1/9 mailboxes"]);

    now = 1150;
    progress.update(9, 9);
    expect(stream.written).toEqual(["\r\x1b[Kscan: 1/9 mailboxes", "\r\x1b[Kscan: 9/9 mailboxes"]);
  });

  test("clear erases a drawn line once", () => {
    const stream = fakeStream(true);
    let now = 1000;
    const progress = createProgress("scan", "mailboxes", stream, () => now);

    progress.clear();
    expect(stream.written).toEqual([]);

    progress.update(1, 9);
    progress.clear();
    progress.clear();
    expect(stream.written).toEqual(["\r\x1b[Kscan: 1/9 mailboxes", "\r\x1b[K"]);

    now = 1300;
    progress.update(2, 9);
    progress.finish();
    expect(stream.written).toEqual(["\r\x1b[Kscan: 1/9 mailboxes", "\r\x1b[K", "\r\x1b[Kscan: 2/9 mailboxes", "\r\x1b[K"]);
  });
});
