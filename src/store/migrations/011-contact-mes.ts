export const version = 11;
export const name = 'contact-mes';
// When the relay last sent each OpenStage phone a contact-me (wall-clock ms). Their web server
// falls over under more than one a minute, and a relay that crashed and restarted within the
// minute must still know it already asked. Written before the contact-me is sent.
export const sql = `
CREATE TABLE contact_mes (
  ip TEXT PRIMARY KEY,
  sent_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`;
