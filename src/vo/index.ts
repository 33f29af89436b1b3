/**
 * The VO room: self-check, device liveness and mirroring (issue #4 fills this room).
 * Started after the servient started; stopped before it shuts down.
 */
import type { VoPlugin } from "../servient";

export interface VoRuntime {
  stop(): Promise<void>;
}

export async function startVoRuntime(_plugin: VoPlugin, _wot: typeof WoT): Promise<VoRuntime> {
  return { stop: async () => undefined };
}
