// Starting `agentphone-emulator serve` as a child process and stopping it: finding the command,
// waiting for its ready line, reading the URL and keys from what it prints, and making sure no
// emulator outlives the test process that started it.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

import { createControlClient } from "./control.js";

const READY = /^AgentPhone emulator ready at (\S+) {2}api key: (\S+)/;
const WEBHOOK = /^webhook: (\S+) {2}secret: (\S+)/;
const ADMIN = /^admin key: (\S+)/;
const OUTPUT_LINES_KEPT = 200;
const INSTALL_HINT = "pip install agentphone-emulator (Python >= 3.11)";

/** One line saying why the emulator could not start or stop. */
export class EmulatorStartError extends Error {
  constructor(message) {
    super(message);
    this.name = "EmulatorStartError";
  }
}

function isExecutable(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH (with PATHEXT's endings on Windows), or null. */
export function which(name, env = process.env) {
  const dirs = (env.PATH ?? env.Path ?? "").split(delimiter).filter(Boolean);
  const endings = process.platform === "win32" ? ["", ...(env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";")] : [""];
  for (const dir of dirs) {
    for (const ending of endings) {
      const candidate = join(dir, name + ending);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

/**
 * How to run the emulator's command line, in this order: `executable` (a path to the
 * `agentphone-emulator` script), `python` (an interpreter: `python -m agentphone_emulator`),
 * `$AGENTPHONE_EMULATOR` (the script's path), `agentphone-emulator` on PATH, `python3 -m
 * agentphone_emulator`. Returns {command, prefix, how} or throws EmulatorStartError.
 */
export function locateEmulator({ executable, python, env = process.env } = {}) {
  if (executable) return { command: executable, prefix: [], how: `executable ${executable}` };
  if (python) return { command: python, prefix: ["-m", "agentphone_emulator"], how: `python ${python}` };
  if (env.AGENTPHONE_EMULATOR) {
    return { command: env.AGENTPHONE_EMULATOR, prefix: [], how: `$AGENTPHONE_EMULATOR (${env.AGENTPHONE_EMULATOR})` };
  }
  const script = which("agentphone-emulator", env);
  if (script) return { command: script, prefix: [], how: `agentphone-emulator on PATH (${script})` };
  for (const name of ["python3", "python"]) {
    const interpreter = which(name, env);
    if (interpreter) {
      return { command: interpreter, prefix: ["-m", "agentphone_emulator"], how: `${name} on PATH (${interpreter})` };
    }
  }
  throw new EmulatorStartError(
    "agentphone-emulator: Python not found (no agentphone-emulator and no python3 on PATH): " +
      `${INSTALL_HINT}, or pass { python: "/path/to/python" }, or set AGENTPHONE_EMULATOR to the agentphone-emulator script`,
  );
}

function flagValue(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

// Every emulator this process started and has not seen exit: killed when the process exits, or
// on a signal that would end it without running 'exit' handlers.
const live = new Set();
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];

function killAll() {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

function onSignal(signal) {
  killAll();
  unwatchSignals();
  // Do what the signal would have done had we not listened for it.
  process.kill(process.pid, signal);
}

let watching = false;
function watchSignals() {
  if (watching) return;
  watching = true;
  process.on("exit", killAll);
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
}

function unwatchSignals() {
  if (!watching) return;
  watching = false;
  process.off("exit", killAll);
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
}

function track(child) {
  live.add(child);
  watchSignals();
  child.once("exit", () => {
    live.delete(child);
    if (live.size === 0) unwatchSignals();
  });
}

function lastLines(lines, count = 5) {
  return lines.slice(-count).join("\n");
}

/**
 * Start `agentphone-emulator serve` and wait until it is ready. See index.d.ts for the options.
 */
export async function startEmulator(options = {}) {
  const {
    port = 0,
    host,
    apiKeys = [],
    args = [],
    env,
    virtualClock,
    adminKey: givenAdminKey,
    startTimeoutMs = 60_000,
    stopTimeoutMs = 10_000,
  } = options;
  const childEnv = { ...process.env, ...(env ?? {}) };
  const located = locateEmulator({ executable: options.executable, python: options.python, env: childEnv });

  const serveArgs = ["serve", "--port", String(port)];
  if (host) serveArgs.push("--host", host);
  for (const key of apiKeys) serveArgs.push("--api-key", key);
  if (virtualClock === true) serveArgs.push("--virtual-clock");
  else if (typeof virtualClock === "string") serveArgs.push("--virtual-clock", virtualClock);
  // The admin key is printed only when it differs from the API key. When we cannot know from the
  // flags whether it will (several keys, or a state file holding more), choose it ourselves.
  let adminKey = givenAdminKey ?? flagValue(args, "--admin-key");
  const keyCount = apiKeys.length + args.filter((arg) => arg === "--api-key" || arg.startsWith("--api-key=")).length;
  if (adminKey === undefined && (keyCount > 1 || flagValue(args, "--state") !== undefined)) {
    adminKey = `sk_admin_${randomBytes(16).toString("hex")}`;
  }
  if (adminKey !== undefined && flagValue(args, "--admin-key") === undefined) serveArgs.push("--admin-key", adminKey);
  serveArgs.push(...args);
  const webhookExpected = flagValue(args, "--webhook") !== undefined;

  const child = spawn(located.command, [...located.prefix, ...serveArgs], {
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
    windowsHide: true,
  });
  track(child);
  const output = [];
  const remember = (line) => {
    output.push(line);
    if (output.length > OUTPUT_LINES_KEPT) output.shift();
  };

  const ready = await new Promise((resolve, reject) => {
    const found = { url: undefined, apiKey: undefined, webhook: undefined, adminKey };
    let settled = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        reject(error);
      } else {
        resolve(found);
      }
    };
    const complete = () =>
      found.url !== undefined &&
      (!webhookExpected || found.webhook !== undefined) &&
      found.adminKey !== undefined;
    const read = (stream) => {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (text) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop();
        for (const raw of lines) {
          const line = raw.replace(/\r$/, "");
          remember(line);
          let match;
          if ((match = READY.exec(line))) {
            found.url = match[1];
            found.apiKey = match[2];
            found.adminKey ??= match[2]; // one key, no --admin-key: that key is the admin key
          } else if ((match = WEBHOOK.exec(line))) {
            found.webhook = { url: match[1], secret: match[2] };
          } else if ((match = ADMIN.exec(line))) {
            found.adminKey = match[1];
          }
          if (complete()) finish();
        }
      });
    };
    read(child.stdout);
    read(child.stderr);
    const timer = setTimeout(
      () =>
        finish(
          new EmulatorStartError(
            `agentphone-emulator serve (${located.how}) printed no ready line within ${startTimeoutMs} ms; ` +
              `it printed:\n${lastLines(output)}`,
          ),
        ),
      startTimeoutMs,
    );
    child.once("error", (error) => {
      const why = error.code === "ENOENT" ? "not found" : error.message;
      finish(new EmulatorStartError(`agentphone-emulator: cannot run ${located.command} (${located.how}): ${why}`));
    });
    child.once("exit", (code, signal) => {
      const printed = output.join("\n");
      if (/No module named '?agentphone_emulator/.test(printed) || /No module named agentphone_emulator/.test(printed)) {
        finish(
          new EmulatorStartError(
            `agentphone-emulator: the Python package is not installed for ${located.command}: ${INSTALL_HINT}, ` +
              "or pass { python } / set AGENTPHONE_EMULATOR to where it is installed",
          ),
        );
        return;
      }
      const last = output.filter((line) => line.trim()).at(-1) ?? "(nothing printed)";
      finish(
        new EmulatorStartError(
          `agentphone-emulator serve (${located.how}) exited (${signal ?? `code ${code}`}) before it was ready: ${last}`,
        ),
      );
    });
  });

  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        let timer;
        const timedOut = new Promise((resolve) => {
          timer = setTimeout(() => resolve("timeout"), stopTimeoutMs);
        });
        const first = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (first === "timeout") child.kill("SIGKILL");
      }
      return exited;
    })();
    return stopping;
  };

  const control = createControlClient({ baseUrl: ready.url, apiKey: ready.apiKey, adminKey: ready.adminKey });
  return {
    url: ready.url,
    baseUrl: ready.url,
    apiKey: ready.apiKey,
    adminKey: ready.adminKey,
    webhook: ready.webhook,
    pid: child.pid,
    process: child,
    command: [located.command, ...located.prefix, ...serveArgs],
    control,
    output: () => output.slice(),
    exited,
    stop,
    ...(Symbol.asyncDispose ? { [Symbol.asyncDispose]: async () => void (await stop()) } : {}),
  };
}
