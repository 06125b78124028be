export type { QueueInfo } from './jobBook.ts';
export type { PipelineRunnerOptions } from './pipelineRunner.ts';
export { PipelineRunner } from './pipelineRunner.ts';
export type { QueueViewOptions } from './queueView.ts';
export { QueueView } from './queueView.ts';
export type { RunnerClock } from './runnerClock.ts';
export { systemClock } from './runnerClock.ts';
