import type { StatusDocument } from '../../core/status.js';
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
export type SectionRenderer = (doc: PageDocument, now: number) => Section | undefined;

type Header = 'version' | 'startedAt' | 'uptimeSeconds' | 'draining';
/**
 * What the page reads: the status document, with every section optional so a renderer has
 * an answer for a document without it (a relay of another build, a hand-made test document).
 */
export type PageDocument = Pick<StatusDocument, Header> & Partial<Omit<StatusDocument, Header>>;
