/** §1.2 API status codes and what they mean, for failure reasons a person can act on. */
export const STATUS_TEXT: Readonly<Record<string, string>> = {
  '2000': 'success',
  '4000': 'invalid input',
  '4001': 'device busy',
  '4002': 'line not registered',
  '4003': 'operation not allowed',
  '4004': 'not supported',
  '4005': 'line does not exist',
  '4006': 'URLs not configured',
  '4007': 'call does not exist',
  '4008': 'config export failed',
  '4009': 'input size limit exceeded',
  '4010': 'default password not allowed',
  '4011': 'contact not found',
  '4400': 'bad request',
  '4403': 'forbidden',
  '5000': 'failed to process',
  '5500': 'internal error',
};

export function statusReason(status: string): string {
  return `phone status ${status} (${STATUS_TEXT[status] ?? 'unknown status'})`;
}
