import type { StatusDocument } from '../../status.js';
import type { Html } from './html.js';
import type { Tone } from './widgets.js';

/** One card of the page. */
export interface Section {
  readonly id: string;
  readonly title: string;
  readonly tone: Tone;
  /** A short verdict next to the title (a badge). */
  readonly verdict?: Html;
  readonly body: Html;
  /** Spans the whole width (tables that need room). */
  readonly wide?: boolean;
}

/**
 * Turns the status document into a card, or undefined when the document has nothing for
 * it (a part this build or this relay does not have). Adding a section is adding one of these.
 */
export type SectionRenderer = (doc: StatusDocument, now: number) => Section | undefined;
