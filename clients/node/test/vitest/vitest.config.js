// vitest for the package's helpers: one file, one emulator; a start-up on a loaded machine is slow.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.js"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
