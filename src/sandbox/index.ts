export {
  Sandbox,
  CGROUP_FD_START,
  kernelBaseEnv,
  RUNTIME_SOURCE_DIR,
  INSTALL_BWRAP_HINT,
} from './sandbox.js';
export type { LaunchSpec, LaunchOptions, SandboxOptions, SandboxReport } from './sandbox.js';
export {
  loadSeccompFilter,
  openSeccompFilter,
  DEFAULT_SECCOMP_FILTER_PATH,
  MAX_SECCOMP_INSTRUCTIONS,
  SECCOMP_INSTRUCTION_BYTES,
  REBUILD_SECCOMP_HINT,
} from './seccomp.js';
export type { SeccompFilter } from './seccomp.js';
export {
  buildBwrapArgs,
  SANDBOX_WORKSPACE,
  SANDBOX_RUNTIME,
  SANDBOX_UID,
  ETC_BINDS,
  NETWORK_ETC_BINDS,
  EXECUTION_MODE_GRANTS,
} from './bwrap-profile.js';
export type { BwrapProfileOptions, ModeGrants } from './bwrap-profile.js';
export { probeInterpreter } from './interpreter-probe.js';
export type { InterpreterInfo } from './interpreter-probe.js';
export { UidAllocator } from './uid-allocator.js';
export { CgroupManager, KernelCgroup, CGROUP_GROUP_NAME } from './cgroups.js';
export type { CgroupMode, CgroupLimits, CgroupReport } from './cgroups.js';
