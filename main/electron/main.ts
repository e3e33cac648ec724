// Electron main process: opens the window and bridges the renderer to the same services serve mode
// and the CLI use. Kept thin on purpose: everything here is wiring; the logic lives in plain-Node
// modules that are tested without Electron.
import { app, BrowserWindow, dialog, ipcMain, shell } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createAppContext, type AppContext } from '../app-context.js';
import { ipcChannels } from '../api/contract.js';
import { dispatch } from '../api/dispatch.js';
import { packagePath, rendererDir, resolveHome, trainerEntry } from '../paths.js';
import { utilityLauncher } from './utility-launcher.js';

app.setName('Tunesmith');

function homeFlag(argv: string[]): string | undefined {
  const i = argv.indexOf('--home');
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith('--home='))?.slice('--home='.length);
}

let ctx: AppContext | undefined;
let nextRequestId = 1;

function createWindow(): BrowserWindow {
  const indexUrl = pathToFileURL(join(rendererDir(), 'index.html')).href;
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 640,
    title: 'Tunesmith',
    webPreferences: {
      preload: packagePath('dist', 'main', 'electron', 'preload.cjs'),
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
      webSecurity: true,
    },
  });
  // The window shows our own page only: links to elsewhere open in the user's browser.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event, url) => {
    if (!url.startsWith(indexUrl)) event.preventDefault();
  });
  void win.loadURL(indexUrl);
  return win;
}

app.whenReady().then(() => {
  const home = resolveHome({ flag: homeFlag(process.argv), fallback: app.getPath('userData') });
  const context = createAppContext({ home, mode: 'electron', launchTrainer: utilityLauncher(trainerEntry()) });
  ctx = context;

  ipcMain.handle(ipcChannels.request, (event, method: unknown, params: unknown) => {
    // Only our own page may call in.
    if (!event.senderFrame?.url.startsWith('file://')) throw new Error('request from an unexpected origin');
    return dispatch(context.handlers, nextRequestId++, String(method), params);
  });
  ipcMain.handle(ipcChannels.pickFolder, async (event) => {
    if (!event.senderFrame?.url.startsWith('file://')) throw new Error('request from an unexpected origin');
    const win = BrowserWindow.fromWebContents(event.sender);
    const options = { title: 'Choose a Hugging Face model folder', properties: ['openDirectory' as const] };
    const chosen = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    return chosen.canceled ? null : (chosen.filePaths[0] ?? null);
  });
  context.hub.subscribe((e) => {
    for (const win of BrowserWindow.getAllWindows()) win.webContents.send(ipcChannels.event, e);
  });

  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('will-quit', () => {
  ctx?.close();
});
