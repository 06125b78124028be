// The job page's commands: Start, Cancel (asks once more) and Resume, and the gate panel with its comment,
// Approve and Reject. Each shown only when the job's status allows it; a refused command shows the API's
// own message.
import { ApiError } from './api.js';
import { h } from './dom.js';

export const VIEWER_NOTE = 'Your role (viewer) can watch this job but not change it.';

/**
 * @typedef {(path: string, body?: unknown) => Promise<void>} Command runs `/jobs/{id}${path}`
 * @typedef {{ canOperate: boolean, command: Command, pausedGate: () => string | null, after: () => void }} ActionsOptions
 */

export class JobActions {
  /** @param {ActionsOptions} options */
  constructor(options) {
    const { canOperate, command } = options;
    this.error = h('p', { id: 'job-error', class: 'message message-error', role: 'alert', hidden: true });
    /** @param {string} label @param {string} id @param {() => Promise<void>} action @param {string} [extraClass] */
    const button = (label, id, action, extraClass = '') =>
      h(
        'button',
        {
          type: 'button',
          id,
          class: extraClass,
          disabled: !canOperate,
          title: canOperate ? null : VIEWER_NOTE,
          onclick: async (/** @type {MouseEvent} */ event) => {
            const target = /** @type {HTMLButtonElement} */ (event.currentTarget);
            target.disabled = true;
            try {
              await action();
              this.error.hidden = true;
            } catch (e) {
              this.error.textContent = e instanceof ApiError ? e.message : String(e);
              this.error.hidden = false;
            } finally {
              target.disabled = !canOperate;
              options.after();
            }
          },
        },
        label,
      );

    this.cancelArmed = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.disarm = undefined;
    this.startButton = button('Start now', 'job-start', () => command('/start'));
    this.cancelButton = button(
      'Cancel job',
      'job-cancel',
      async () => {
        if (!this.cancelArmed) {
          this.cancelArmed = true;
          this.cancelButton.textContent = 'Confirm cancel';
          this.disarm = setTimeout(() => {
            this.cancelArmed = false;
            this.cancelButton.textContent = 'Cancel job';
          }, 5000);
          return;
        }
        clearTimeout(this.disarm);
        this.cancelArmed = false;
        this.cancelButton.textContent = 'Cancel job';
        await command('/cancel', {});
      },
      'danger',
    );
    this.resumeButton = button('Resume', 'job-resume', () => command('/resume', {}));
    this.element = h('div', { class: 'actions' }, this.startButton, this.cancelButton, this.resumeButton);

    const comment = /** @type {HTMLTextAreaElement} */ (
      h('textarea', { id: 'gate-comment', rows: 3, disabled: !canOperate, maxlength: 4000 })
    );
    const decide = (/** @type {'approve' | 'reject'} */ decision) => async () => {
      const gate = options.pausedGate();
      if (!gate) return;
      const text = comment.value.trim();
      await command(`/gates/${encodeURIComponent(gate)}/${decision}`, text ? { comment: text } : {});
      comment.value = '';
    };
    this.gateTitle = h('h2', { id: 'gate-title' });
    this.gatePanel = h(
      'section',
      { id: 'gate-panel', class: 'panel gate-panel', 'aria-labelledby': 'gate-title', hidden: true },
      this.gateTitle,
      h('label', { for: 'gate-comment' }, 'Comment (optional, stored with the decision)'),
      comment,
      h(
        'div',
        { class: 'actions' },
        button('Approve', 'gate-approve', decide('approve'), 'primary'),
        button('Reject', 'gate-reject', decide('reject'), 'danger'),
      ),
      canOperate ? null : h('p', { class: 'muted small' }, VIEWER_NOTE),
    );
  }

  /** @param {string} status @param {boolean} terminal @param {string | null} pausedGate */
  update(status, terminal, pausedGate) {
    this.startButton.hidden = status !== 'queued';
    this.cancelButton.hidden = terminal;
    this.resumeButton.hidden = status !== 'failed';
    this.element.hidden = this.startButton.hidden && this.cancelButton.hidden && this.resumeButton.hidden;
    this.gatePanel.hidden = !(status === 'paused' && pausedGate);
    this.gateTitle.textContent = pausedGate ? `Waiting at gate ${pausedGate}` : '';
  }

  /** @param {string} message */
  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  stop() {
    clearTimeout(this.disarm);
  }
}
