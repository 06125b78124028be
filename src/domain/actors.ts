/** The actor of what the pipeline runner does by itself: starting, completing and failing stages. */
export const RUNNER_ACTOR = 'runner';
/** The actor of a gate decision taken at its deadline (`on_timeout`). */
export const TIMER_ACTOR = 'timer';

/** Actors the system records for itself: no token may be named after one, so a person never reads as one. */
export const SYSTEM_ACTORS = [RUNNER_ACTOR, TIMER_ACTOR] as const;

/** True when `name` is a system actor's name, ignoring case and surrounding spaces (`Timer`, `runner `). */
export function isSystemActorName(name: string): boolean {
  const folded = name.trim().toLowerCase();
  return SYSTEM_ACTORS.some((actor) => actor === folded);
}
