import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { ContactMeRepo } from '../../src/store/contact-mes.js';
import { contactMeWait, MemoryContactMeLedger } from '../../src/devices/openstage/contact-me.js';
import type { ContactMeLedger } from '../../src/devices/vendor.js';
import { tempDir } from '../helpers/relay-config.js';

describe('contactMeWait', () => {
  it('is the rest of the interval, 0 once it has passed or when the phone was never asked', () => {
    expect(contactMeWait(undefined, 1_000_000, 60_000)).toBe(0);
    expect(contactMeWait(1_000_000, 1_015_000, 60_000)).toBe(45_000);
    expect(contactMeWait(1_000_000, 1_060_000, 60_000)).toBe(0);
  });

  it('never waits more than one interval when the last contact-me is dated in the future (clock stepped back)', () => {
    expect(contactMeWait(1_000_000 + 3_600_000, 1_000_000, 60_000)).toBe(60_000);
  });
});

const stores: { close(): void }[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function storeLedger(): { ledger: ContactMeRepo; reopen(): ContactMeRepo } {
  const dir = tempDir('cr-contact-me-');
  let db: Db = openDb(join(dir, 'data'));
  stores.push({
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return {
    ledger: new ContactMeRepo(db),
    reopen: () => {
      db.close();
      db = openDb(join(dir, 'data'));
      return new ContactMeRepo(db);
    },
  };
}

describe.each([
  ['in memory', (): ContactMeLedger => new MemoryContactMeLedger()],
  ['in the store', (): ContactMeLedger => storeLedger().ledger],
])('contact-me ledger %s', (_name, make) => {
  it('records, forgets only the contact-me it was told about, and prunes old ones', () => {
    const ledger = make();
    ledger.record('127.20.1.1', 1_000);
    ledger.record('127.20.1.2', 5_000);
    expect(ledger.last('127.20.1.1')).toBe(1_000);
    ledger.record('127.20.1.1', 2_000);
    ledger.forget('127.20.1.1', 1_000);
    expect(ledger.last('127.20.1.1')).toBe(2_000);
    ledger.forget('127.20.1.1', 2_000);
    expect(ledger.last('127.20.1.1')).toBeUndefined();
    expect(ledger.prune(4_000)).toBe(0);
    expect(ledger.prune(6_000)).toBe(1);
    expect(ledger.last('127.20.1.2')).toBeUndefined();
  });
});

it('the store-backed ledger still knows after the database is reopened', () => {
  const s = storeLedger();
  s.ledger.record('127.20.1.3', 7_000);
  expect(s.reopen().last('127.20.1.3')).toBe(7_000);
});
