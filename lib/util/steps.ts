/** Runs a stepwise job (a generator that yields between steps) to its end, one step per turn of the event loop. */
export async function runInSteps<T>(steps: Generator<void, T>): Promise<T> {
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Runs a stepwise job to its end now, without yielding (tests, small tables). */
export function runAtOnce<T>(steps: Generator<void, T>): T {
  for (let step = steps.next(); ; step = steps.next()) if (step.done) return step.value;
}
