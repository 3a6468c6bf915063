export { runSandboxTool, DEFAULT_TOOL_TIMEOUT_MS } from './sandbox-tool.js';
export type { SandboxToolOptions, SandboxToolResult } from './sandbox-tool.js';
