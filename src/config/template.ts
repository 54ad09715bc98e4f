import { SETTINGS, SETTING_NAMES, isNumericType, type SettingName, type SettingType } from './settings.js';
import { describeRange } from './values.js';

/** Values the shipped owlcache.conf sets differently from the built-in defaults. */
export const SHIPPED_VALUES: Partial<Record<SettingName, string>> = {
  MaxMemory: '256mb',
  RespPort: '7722',
};

/**
 * Renders a commented owlcache.conf from the settings table: every supported
 * setting with its documentation, grouped by section. The shipped file is made
 * with this (`npm run conf`), and a test keeps the two in step.
 */
export function renderConf(values: Partial<Record<SettingName, string>> = SHIPPED_VALUES): string {
  const out: string[] = [
    "# owlcache configuration file (compatible with Go OwlCache's owlcache.conf)",
    '# Rules: a line starting with # is a comment; [Section] lines group settings;',
    '# a setting is "Name value" (name, one space, value). Flags given at start override',
    '# this file: owlcache -config owlcache.conf --Httpport=7731',
    '# Sizes: 1400, 64kb, 256mb, 1gb. Durations: a bare number is in the unit the',
    '# setting names; 500ms, 10s, 5m, 24h and 1d are accepted too.',
    '# OwlCache settings for features not carried over (memcache/redis read-through,',
    '# URL cache, websocket) are accepted and ignored with a warning.',
  ];
  let section = '';
  for (const name of SETTING_NAMES) {
    const spec = SETTINGS[name];
    if ('unsupported' in spec) continue;
    if (spec.section !== section) {
      section = spec.section;
      out.push('', `[${section}]`);
    }
    const type: SettingType = spec.type;
    const range = isNumericType(type) ? [`# Accepted: ${describeRange(type)}.`] : [];
    out.push('', `# ${spec.doc}`, ...range, `${name} ${values[name] ?? spec.default}`);
  }
  return `${out.join('\n')}\n`;
}
