// The new-job form: a pipeline picker showing its stages, and params checked as a JSON object before sending.
import { api, post } from './api.js';
import { h, replaceChildren } from './dom.js';

/**
 * @typedef {import('./app.js').ViewContext} ViewContext
 * @typedef {import('./jobsView.js').Job} Job
 */

/** A JSON object, or the reason it is not one. @param {string} text @returns {{ value: Record<string, unknown> } | { error: string }} */
export function parseParams(text) {
  if (text.trim() === '') return { value: {} };
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not valid JSON: ${error instanceof Error ? error.message : error}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { error: 'params must be a JSON object, e.g. {"release": "1.2"}' };
  return { value };
}

/** @param {ViewContext} context @param {(job: Job) => void} onCreated */
export function newJobForm(context, onCreated) {
  const pipeline = h('select', { id: 'new-pipeline', name: 'pipeline', required: true });
  const stages = h('p', { id: 'new-pipeline-stages', class: 'muted small' });
  const params = /** @type {HTMLTextAreaElement} */ (
    h('textarea', {
      id: 'new-params',
      name: 'params',
      rows: 4,
      spellcheck: 'false',
      'aria-describedby': 'new-params-help new-params-error',
    })
  );
  params.value = '{}';
  const paramsError = h('p', { id: 'new-params-error', class: 'field-error', hidden: true });
  const submit = h('button', { type: 'submit', disabled: !context.canOperate }, 'Create job');
  const result = h('p', { class: 'message', role: 'status', hidden: true });
  /** @type {{ name: string, description: string | null, stages: { name: string, gate: string | null, run: boolean }[] }[]} */
  let pipelines = [];

  const showStages = () => {
    const chosen = pipelines.find((p) => p.name === pipeline.value);
    stages.textContent = chosen
      ? chosen.stages.map((s) => (s.gate ? `${s.name} (gate)` : s.name)).join(' → ')
      : '';
  };
  const validate = () => {
    const parsed = parseParams(params.value);
    const error = 'error' in parsed ? parsed.error : '';
    paramsError.textContent = error;
    paramsError.hidden = !error;
    params.setAttribute('aria-invalid', String(Boolean(error)));
    return parsed;
  };
  /** @param {string} text @param {'ok' | 'error'} kind @param {Node} [link] */
  const say = (text, kind, link) => {
    result.className = `message message-${kind}`;
    replaceChildren(result, text, link ?? '');
    result.hidden = false;
  };

  api('/pipelines')
    .then((list) => {
      pipelines = list.pipelines;
      replaceChildren(
        pipeline,
        pipelines.map((p) =>
          h(
            'option',
            { value: p.name, selected: p.name === list.default },
            p.description ? `${p.name} — ${p.description}` : p.name,
          ),
        ),
      );
      showStages();
    })
    .catch((error) => say(`Could not load pipelines: ${error.message}`, 'error'));

  pipeline.addEventListener('change', showStages);
  params.addEventListener('input', validate);

  const form = h(
    'form',
    {
      id: 'new-job-form',
      novalidate: true,
      onsubmit: async (/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        const parsed = validate();
        if ('error' in parsed) {
          params.focus();
          return;
        }
        submit.toggleAttribute('disabled', true);
        try {
          const answer = await post('/jobs', { pipeline: pipeline.value, params: parsed.value });
          onCreated(answer.job);
          const id = answer.job.job_id;
          say('Created ', 'ok', h('a', { href: `#/jobs/${id}` }, id));
        } catch (error) {
          say(error instanceof Error ? error.message : String(error), 'error');
        } finally {
          submit.toggleAttribute('disabled', !context.canOperate);
        }
      },
    },
    h('label', { for: 'new-pipeline' }, 'Pipeline'),
    pipeline,
    stages,
    h('label', { for: 'new-params' }, 'Params (JSON object)'),
    params,
    h('p', { id: 'new-params-help', class: 'muted small' }, 'Passed to every stage; checked before sending.'),
    paramsError,
    submit,
    context.canOperate
      ? null
      : h('p', { class: 'muted small' }, 'Your role (viewer) can watch but not create jobs.'),
    result,
  );
  return h(
    'section',
    { class: 'panel new-job', 'aria-labelledby': 'new-job-title' },
    h('h2', { id: 'new-job-title' }, 'New job'),
    form,
  );
}
