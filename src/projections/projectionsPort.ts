/** What the API needs of the projections: read-your-writes, change notifications, lag. */
export interface ProjectionsPort {
  /** true once every projection applied `position`; false after `timeoutMs`. */
  waitForPosition(position: string, timeoutMs: number): Promise<boolean>;
  /** Subscribes to "a batch was applied"; returns the unsubscribe function. */
  onApplied(listener: (position: string) => void): () => void;
  /** The lowest checkpoint of all projections, or null before any event was applied. */
  checkpoint(): Promise<string | null>;
}
