// startEmulator: how it finds the emulator, what it reads from the ready line, how it stops it,
// what it says when it cannot, and that no emulator outlives the process that started it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import { EmulatorStartError, locateEmulator, startEmulator, which } from "../src/launcher.js";

const HANG_GUARD_MS = 30_000; // a named hang guard, not a performance check

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

async function waitUntilGone(pid) {
  const deadline = Date.now() + HANG_GUARD_MS;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL");
      assert.fail(`emulator ${pid} outlived its test process (hang guard: ${HANG_GUARD_MS} ms)`);
    }
    await sleep(50);
  }
}

test("the ready line gives the URL and key; the control plane answers; stop() ends it with SIGTERM", async () => {
  const emulator = await startEmulator({ apiKeys: ["sk_test_node"], args: ["--seed", "7"] });
  try {
    assert.match(emulator.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(emulator.apiKey, "sk_test_node");
    assert.equal(emulator.adminKey, "sk_test_node", "one key: it is the admin key");
    assert.equal((await emulator.control.clock()).virtual, false);
    assert.ok(emulator.output().some((line) => line.startsWith("AgentPhone emulator ready at")));
  } finally {
    const exit = await emulator.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "serve stops cleanly on SIGTERM");
  }
  assert.deepEqual(await emulator.stop(), { code: 0, signal: null }, "stop() twice is fine");
  await assert.rejects(emulator.control.clock(), (error) => {
    assert.equal(error.name, "EmulatorUnreachableError");
    assert.equal(error.message, `GET /__emulator/clock: no answer from the emulator at ${emulator.url} (ECONNREFUSED): has it stopped?`);
    return true;
  });
});

test("several keys: an admin key of its own, needed for reset; --webhook's line is read too", async () => {
  const emulator = await startEmulator({
    apiKeys: ["sk_test_a", "sk_test_b"],
    virtualClock: "2030-01-01T00:00:00Z",
    args: ["--webhook", "http://127.0.0.1:9/webhook", "--webhook-secret", "whsec_node"],
  });
  try {
    assert.match(emulator.adminKey, /^sk_admin_/);
    assert.deepEqual(emulator.webhook, { url: "http://127.0.0.1:9/webhook", secret: "whsec_node" });
    assert.equal((await emulator.control.clock()).now, "2030-01-01T00:00:00.000Z");
    await emulator.control.reset(); // with the admin key
    const refused = await emulator.control.request("POST", "/__emulator/reset").catch((error) => error);
    assert.equal(refused.status, 403);
    assert.equal(refused.code, "ADMIN_KEY_REQUIRED");
  } finally {
    await emulator.stop();
  }
});

test("no Python: one line saying how to install", async () => {
  const empty = mkdtempSync(join(tmpdir(), "no-python-"));
  await assert.rejects(startEmulator({ env: { PATH: empty, AGENTPHONE_EMULATOR: "" } }), (error) => {
    assert.ok(error instanceof EmulatorStartError);
    assert.match(error.message, /^agentphone-emulator: Python not found .*pip install agentphone-emulator/);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
});

test("Python without the package: one line saying how to install it", async () => {
  const python = which("python3") ?? which("python");
  assert.ok(python, "python3 is on PATH (the emulator needs it)");
  const dir = mkdtempSync(join(tmpdir(), "bare-python-"));
  const bare = join(dir, "python");
  // -I -S: no site-packages and no PYTHONPATH, so the package cannot be found.
  writeFileSync(bare, `#!/bin/sh\nexec "${python}" -I -S "$@"\n`);
  chmodSync(bare, 0o755);
  await assert.rejects(startEmulator({ python: bare }), (error) => {
    assert.ok(error instanceof EmulatorStartError);
    assert.equal(
      error.message,
      `agentphone-emulator: the Python package is not installed for ${bare}: pip install agentphone-emulator (Python >= 3.11), or pass { python } / set AGENTPHONE_EMULATOR to where it is installed`,
    );
    return true;
  });
});

test("an executable that does not exist, and serve refusing its flags, are one line each", async () => {
  await assert.rejects(startEmulator({ executable: "/nonexistent/agentphone-emulator" }), /cannot run \/nonexistent\/agentphone-emulator .*: not found$/);
  await assert.rejects(startEmulator({ args: ["--credit", "lots"] }), (error) => {
    assert.match(error.message, /exited \(code 2\) before it was ready: .*credit/);
    return true;
  });
});

test("the lookup order: executable, python, $AGENTPHONE_EMULATOR, PATH", () => {
  assert.equal(locateEmulator({ executable: "/x/agentphone-emulator", python: "/x/python" }).command, "/x/agentphone-emulator");
  assert.deepEqual(locateEmulator({ python: "/x/python" }).prefix, ["-m", "agentphone_emulator"]);
  assert.equal(locateEmulator({ env: { AGENTPHONE_EMULATOR: "/y/agentphone-emulator", PATH: "" } }).command, "/y/agentphone-emulator");
});

for (const how of ["exit", "throw", "signal"]) {
  test(`no emulator outlives its test process (${how})`, async () => {
    const script = fileURLToPath(new URL("./fixtures/leave-running.mjs", import.meta.url));
    const child = spawn(process.execPath, [script, how], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const pid = await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        out += chunk;
        const found = /EMULATOR_PID (\d+)/.exec(out);
        if (found) resolve(Number(found[1]));
      });
      child.stderr.on("data", (chunk) => (out += chunk));
      child.once("exit", () => reject(new Error(`the fixture ended before starting the emulator:\n${out}`)));
    });
    if (how === "signal") child.kill("SIGTERM");
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", resolve)));
    if (how === "signal") assert.equal(child.signalCode, "SIGTERM", "the signal still ends the process");
    await waitUntilGone(pid);
  });
}
