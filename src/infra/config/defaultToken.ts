/**
 * The seed token that makes a fresh install usable on loopback; its presence is warned about at start. A
 * module of its own: the CLI's client commands read it without loading the config schema.
 */
export const DEFAULT_ADMIN_TOKEN = 'default-admin-token-change-me';
