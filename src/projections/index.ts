export type { Projections, ProjectionsOptions } from './createProjections.ts';
export { createProjections } from './createProjections.ts';
export type { EventSearchOptions, EventSearchPage, EventSearchQuery } from './eventSearch.ts';
export { EventSearch, SearchIndexBuildingError } from './eventSearch.ts';
export type { GenerationBuilderOptions } from './generationBuilder.ts';
export { GenerationBuilder } from './generationBuilder.ts';
export { countJobEvents, JobEventLag } from './jobEventLag.ts';
export type { ExpectedJobFiles, ExpectedReadModelJob, FoldResult, GateFile, StateFile } from './jobFold.ts';
export {
  canonicalJson,
  expectedJobFiles,
  expectedReadModelJob,
  fileJson,
  foldEvents,
  foldJob,
  jsonlLine,
  toGateFile,
  toStateFile,
} from './jobFold.ts';
export type { JobListRow, JobSummary } from './jobSummary.ts';
export { jobListRowSchema, jobSummarySchema, toJobSummary } from './jobSummary.ts';
export type { JsonlProjectionOptions } from './jsonlProjection.ts';
export { JsonlProjection } from './jsonlProjection.ts';
export type { JsonlTail } from './jsonlTail.ts';
export { repairJsonlTail } from './jsonlTail.ts';
export { mapLimit } from './mapLimit.ts';
export { comparePositions, isAtOrBelow, minCheckpoint, padPosition } from './positions.ts';
export type { Projection } from './projection.ts';
export type {
  ProjectionRunnerEvents,
  ProjectionRunnerOptions,
  ProjectionStatus,
} from './projectionRunner.ts';
export { ProjectionRunner } from './projectionRunner.ts';
export type { ProjectionsPort } from './projectionsPort.ts';
export { InvalidQueryError, isInvalidQueryError, ReadModel } from './readModel.ts';
export type { ReadModelProjectionOptions } from './readModelProjection.ts';
export { CheckpointConflictError, ReadModelProjection } from './readModelProjection.ts';
export type {
  GlobalEventsFilter,
  GlobalEventsPage,
  JobEventsPage,
  JobEventsQuery,
  JobListPage,
  ListJobsQuery,
} from './readModelQueries.ts';
export type { GenerationTables } from './readModelStore.ts';
export { READ_MODEL_CHECKPOINT, ReadModelStore } from './readModelStore.ts';
export type { TimeIndexKey } from './readModelTimeIndex.ts';
export { timeIndexKey } from './readModelTimeIndex.ts';
export type { Posting } from './searchIndex.ts';
export { removeSearchPostings, searchTerms } from './searchIndex.ts';
export type { StageLogProjectionOptions } from './stageLogProjection.ts';
export { recordBytes, StageLogProjection, stageLogFile } from './stageLogProjection.ts';
export type { StateProjectionOptions } from './stateProjection.ts';
export { StateProjection } from './stateProjection.ts';
export { readJobEvents } from './storeGaps.ts';
export { fsyncTree, syncDirectories, syncTree } from './syncTree.ts';
