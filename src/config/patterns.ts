// Name patterns as the configuration and the lab write them: `*` is any run of characters, the
// rest is literal, matched whole and without regard to case (roles' resources, certificate
// mappings, subscriptions' allow and deny lists, the lab's fault targets).

/** A string made literal inside a regular expression. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The regular expression of a `*` pattern. */
export const globPattern = (glob: string): RegExp => new RegExp(`^${glob.split('*').map(escapeRegExp).join('.*')}$`, 'i');
