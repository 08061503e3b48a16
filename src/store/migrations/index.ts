import * as m001 from './001-core.js';
import * as m002 from './002-control.js';
import * as m003 from './003-tls-ipguard.js';
import * as m004 from './004-cache-images.js';
import * as m005 from './005-tasks-devices.js';
import * as m006 from './006-rollouts.js';
import * as m007 from './007-device-summary-columns.js';
import * as m008 from './008-sealed-frames.js';
import * as m009 from './009-rollout-phase-counts.js';
import * as m010 from './010-rollout-pending-index.js';
import * as m011 from './011-contact-mes.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Numbered, append-only: a landed migration is never edited, a fix is a new number. */
export const migrations: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011];
