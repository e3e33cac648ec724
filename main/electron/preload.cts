// The renderer's only door to the app: a sandboxed preload (CommonJS, may require nothing but
// 'electron') that exposes two functions through contextBridge. Channel names repeat
// ipcChannels in api/contract.ts, which a sandboxed preload cannot import.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';

const REQUEST = 'tunesmith:request';
const EVENT = 'tunesmith:event';
const PICK_FOLDER = 'tunesmith:pick-folder';

contextBridge.exposeInMainWorld('tunesmith', {
  request: (method: string, params: unknown) => ipcRenderer.invoke(REQUEST, method, params),
  onEvent: (listener: (event: unknown) => void) => {
    const wrapped = (_e: IpcRendererEvent, event: unknown) => listener(event);
    ipcRenderer.on(EVENT, wrapped);
    return () => {
      ipcRenderer.removeListener(EVENT, wrapped);
    };
  },
  // The native "choose folder" dialog (the Model step); resolves to the path, or null if cancelled.
  pickFolder: (): Promise<string | null> => ipcRenderer.invoke(PICK_FOLDER),
});
