// Fan-out of API events to every connected UI (Electron window, WebSocket clients) and the CLI.
import type { ApiEvent } from './contract.js';

export class EventHub {
  private readonly listeners = new Set<(event: ApiEvent) => void>();

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ApiEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken listener (a closed socket, say) must not starve the others.
      }
    }
  }
}
