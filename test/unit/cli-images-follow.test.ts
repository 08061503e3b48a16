import { describe, expect, it, vi } from 'vitest';
import { followImages, type FollowTiming } from '../../src/cli/images.js';
import type { AgentView, ImageView } from '../../src/download-agent/agent.js';
import { ExitCode } from '../../src/errors.js';

const image = (state: ImageView['state'], bytes: number): ImageView => ({ imageId: 'fw', path: '/fw/sip.ld', version: '1', size: 100, sha256: 'ab', state, bytes, reason: null });
const doc = (running: boolean, ...images: ImageView[]): AgentView => ({
  running,
  lastSyncAt: null,
  lastError: null,
  syncWindow: null,
  windowOpen: true,
  nextWindowAt: null,
  images,
});

/** A clock that moves only when the follow loop waits: no real time passes. */
function fakeTiming(stallMs: number): FollowTiming & { waited: number } {
  const t = {
    waited: 0,
    intervalMs: 500,
    stallMs,
    now: () => t.waited,
    wait: (ms: number) => {
      t.waited += ms;
      return Promise.resolve();
    },
  };
  return t;
}

describe('cloud-relay images --follow', () => {
  it('redraws while bytes move and ends 0 once nothing syncs', async () => {
    const docs = [doc(true, image('syncing', 40)), doc(true, image('syncing', 80)), doc(false, image('synced', 100))];
    const drawn: string[][] = [];
    const code = await followImages(
      doc(true, image('syncing', 0)),
      () => Promise.resolve(docs.shift()!),
      (l) => drawn.push([...l]),
      fakeTiming(10_000),
    );
    expect(code).toBe(ExitCode.OK);
    expect(drawn).toHaveLength(4);
    expect(drawn.at(-1)?.join('\n')).toMatch(/synced .* 100%/);
  });

  it('ends 1 when an image failed', async () => {
    const code = await followImages(
      doc(false, image('failed', 10)),
      () => Promise.reject(new Error('not asked again')),
      () => undefined,
      fakeTiming(10_000),
    );
    expect(code).toBe(ExitCode.FAILURE);
  });

  it('gives up with 75 when a running sync has not changed for the stall bound, however long it is said to run', async () => {
    const stuck = doc(true, image('syncing', 42));
    const fetchDoc = vi.fn(() => Promise.resolve(structuredClone(stuck)));
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const t = fakeTiming(10_000);
      expect(await followImages(stuck, fetchDoc, () => undefined, t)).toBe(ExitCode.TEMP_FAIL);
      expect(t.waited).toBe(10_000);
      expect(fetchDoc).toHaveBeenCalledTimes(20);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/nothing moved for 10 s/);
    } finally {
      err.mockRestore();
    }
  });

  it('progress restarts the stall bound', async () => {
    let bytes = 0;
    // Moves for 30 s of fake time (60 polls), then stops moving: gives up 10 s later.
    const fetchDoc = () => Promise.resolve(doc(true, image('syncing', bytes < 60 ? ++bytes : bytes)));
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const t = fakeTiming(10_000);
      expect(await followImages(doc(true, image('syncing', 0)), fetchDoc, () => undefined, t)).toBe(ExitCode.TEMP_FAIL);
      expect(t.waited).toBe(30_000 + 10_000);
    } finally {
      err.mockRestore();
    }
  });
});
