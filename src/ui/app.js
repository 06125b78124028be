// The page shell: sign-in, the role shown, the connection indicator and a hash router between the jobs list
// (#/) and a job page (#/jobs/<id>).
import { ApiError, api, onUnauthorized, token } from './api.js';
import { byId } from './dom.js';
import { mountJobsView } from './jobsView.js';
import { mountJobView } from './jobView.js';

/**
 * @typedef {{ name: string, role: 'admin' | 'operator' | 'viewer' }} Me
 * @typedef {{ me: Me, canOperate: boolean, setConnection: (state: string, detail?: string) => void }} ViewContext
 */

const CONNECTION_LABELS = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  polling: 'polling',
  ended: 'job finished',
  stopped: 'offline',
  offline: 'offline',
};

/** @type {Me | null} */
let me = null;
/** @type {(() => void) | null} */
let unmount = null;

/** @param {string} state @param {string} [detail] */
function setConnection(state, detail) {
  const conn = byId('conn');
  conn.dataset.state = state;
  const label = /** @type {Record<string, string>} */ (CONNECTION_LABELS)[state] ?? state;
  byId('conn-text').textContent = label;
  conn.title = detail ?? (state === 'polling' ? 'streaming is not working: polling the API instead' : label);
}

/** @param {'signin-view' | 'jobs-view' | 'job-view'} id */
function show(id) {
  for (const view of ['signin-view', 'jobs-view', 'job-view']) byId(view).hidden = view !== id;
}

function route() {
  unmount?.();
  unmount = null;
  if (!me) {
    showSignIn();
    return;
  }
  /** @type {ViewContext} */
  const context = { me, canOperate: me.role !== 'viewer', setConnection };
  const match = /^#\/jobs\/([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (match) {
    show('job-view');
    unmount = mountJobView(byId('job-view'), /** @type {string} */ (match[1]), context);
  } else {
    show('jobs-view');
    unmount = mountJobsView(byId('jobs-view'), context);
  }
}

/** @param {string} [message] */
function showSignIn(message) {
  setConnection('offline');
  byId('who').hidden = true;
  show('signin-view');
  const text = byId('signin-message');
  text.textContent = message ?? '';
  text.hidden = !message;
  byId('signin-token').focus();
}

/** @param {Me} who */
function signedIn(who) {
  me = who;
  byId('who-name').textContent = who.name;
  byId('who-role').textContent = who.role;
  byId('who-role').dataset.role = who.role;
  byId('who').hidden = false;
  route();
}

/** @param {string} [message] */
function signOut(message) {
  token.clear();
  me = null;
  unmount?.();
  unmount = null;
  showSignIn(message);
}

byId('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId('signin-token'));
  const value = input.value.trim();
  if (!value) {
    showSignIn('Enter a token.');
    return;
  }
  try {
    const who = await api('/me', { token: value });
    token.set(value);
    input.value = '';
    signedIn(who);
  } catch (error) {
    const reason = error instanceof ApiError ? error.message : String(error);
    showSignIn(
      error instanceof ApiError && error.status === 401
        ? `That token was not accepted (${reason}). Check it and try again.`
        : `Could not sign in: ${reason}`,
    );
  }
});

byId('sign-out').addEventListener('click', () => signOut());

onUnauthorized((error) => {
  if (me) signOut(`Signed out: the server no longer accepts this token (${error.message}). Sign in again.`);
});

window.addEventListener('hashchange', () => {
  if (me) route();
});

async function boot() {
  if (!token.get()) {
    showSignIn();
    return;
  }
  try {
    signedIn(await api('/me'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(`Signed out: the server no longer accepts this token (${error.message}). Sign in again.`);
    } else showSignIn(`Could not reach the server: ${error instanceof Error ? error.message : error}`);
  }
}

void boot();
