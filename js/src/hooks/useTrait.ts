import { useEffect, useState } from "preact/hooks";
import type { Model, WidgetModel } from "../model";

/** The current value of one synced trait; re-renders when the kernel changes it. */
export function useTrait<K extends keyof WidgetModel>(model: Model, key: K): WidgetModel[K] {
  const [value, setValue] = useState<WidgetModel[K]>(() => model.get(key));
  useEffect(() => {
    const event = `change:${key}`;
    // Wrap in a function so array/object values are never taken as updaters.
    const update = () => setValue(() => model.get(key));
    model.on(event, update);
    update(); // a change may have landed between the first render and now
    return () => model.off(event, update);
  }, [model, key]);
  return value;
}
