/**
 * The rule a configured `Pass` must meet (checked at start; a generated
 * password always meets it). The password guards every change of the node's
 * data, so a guessable one is refused rather than warned about.
 */

/**
 * Passwords refused as `Pass` whatever their length: the commonest of ten
 * characters or more, as guessing lists begin with them (compared ignoring case).
 */
export const COMMON_PASSWORDS: readonly string[] = [
  '1234567890',
  '0123456789',
  '1234567890a',
  '123456789a',
  'a123456789',
  '1q2w3e4r5t',
  '1qaz2wsx3edc',
  'qwertyuiop',
  'asdfghjkl;',
  'zxcvbnm123',
  'qwerty1234',
  'qwerty12345',
  'qwerty123456',
  'abcdefghij',
  'abcd123456',
  'abc1234567',
  'password12',
  'password123',
  'password1234',
  'password!1',
  'passw0rd12',
  'p@ssw0rd123',
  'iloveyou12',
  'iloveyou123',
  'letmein123',
  'welcome123',
  'welcome1234',
  'changeme12',
  'changeme123',
  'administrator',
  'admin12345',
  'admin123456',
  'superman123',
  'football123',
  'baseball123',
  'sunshine123',
  'princess123',
  'trustno1234',
  'secret1234',
  'secret12345',
  'owlcache123',
  'owlcache1234',
  'owlcache-pass',
  'owlcache-password',
];

/**
 * Why `password` is too weak for `Pass`, or null if it is acceptable: fewer
 * than 10 characters, only digits, one character repeated, or a common password.
 */
export function weakPasswordReason(password: string): string | null {
  if ([...password].length < 10) return 'the password must be at least 10 characters long';
  if (/^\d+$/.test(password)) return 'the password must not be only digits';
  if (new Set(password).size === 1) return 'the password must not be one character repeated';
  if (COMMON_PASSWORDS.includes(password.toLowerCase())) return 'the password is one of the commonest passwords; choose another';
  return null;
}
