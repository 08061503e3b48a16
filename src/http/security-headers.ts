/**
 * Headers on the phone port's answers. HSTS is a property of the host (this port speaks only
 * HTTPS), so every answer carries it, passed-through provisioning answers included — unless
 * the provisioning server sent its own. No includeSubDomains: the relay cannot know what
 * else lives under its name. nosniff goes on the relay's own answers only: a passed-through
 * file keeps exactly the headers its server chose (phones do not sniff; changing how a
 * provisioning answer is typed is the provisioning server's call, not the relay's).
 */
export const HSTS_VALUE = 'max-age=31536000';

export const OWN_ANSWER_HEADERS: Readonly<Record<string, string>> = {
  'strict-transport-security': HSTS_VALUE,
  'x-content-type-options': 'nosniff',
};

/** The same, as header lines for answers written straight to the socket. */
export const OWN_ANSWER_HEADER_LINES = `Strict-Transport-Security: ${HSTS_VALUE}\r\nX-Content-Type-Options: nosniff\r\n`;
