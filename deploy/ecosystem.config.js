// PM2 process file for zerobeta. Install: see deploy/README.md.
//   pm2 start deploy/ecosystem.config.js && pm2 save
//   pm2 logs zerobeta        # JSON log lines (stdout is not a terminal)
//
// Environment: PM2 has no EnvironmentFile, so this file reads /etc/zerobeta/zerobeta.env
// (KEY=value lines, "#" comments) itself when it is evaluated, i.e. on `pm2 start` or
// `pm2 reload` -- edit the file, then `pm2 reload deploy/ecosystem.config.js --update-env`.
// Note that `pm2 save` writes the process environment, keys included, to ~/.pm2/dump.pm2;
// to keep keys out of PM2 entirely, put them in a secrets directory instead and add
// "--secrets-dir", "/etc/zerobeta/secrets" to `args` (see README).
"use strict";

const fs = require("fs");

const ENV_FILE = process.env.PM2_ZEROBETA_ENV_FILE || "/etc/zerobeta/zerobeta.env";

function readEnvFile(path) {
  if (!fs.existsSync(path)) {
    return {};
  }
  const env = {};
  for (const raw of fs.readFileSync(path, "utf8").split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) {
      throw new Error(`${path}: not KEY=value: ${line.split("=")[0]}`);
    }
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    env[key] = value;
  }
  return env;
}

module.exports = {
  apps: [
    {
      name: "zerobeta",
      // The console script installed in the virtualenv; run it directly, not through node.
      script: "/opt/zerobeta/.venv/bin/zerobeta",
      interpreter: "none",
      args: ["run", "--config", "/etc/zerobeta/agent.toml"],
      // Relative paths in agent.toml (journal.path = "runs/zerobeta.sqlite") resolve here.
      cwd: "/var/lib/zerobeta",
      exec_mode: "fork",
      instances: 1,
      env: {
        ...readEnvFile(ENV_FILE),
        PYTHONUNBUFFERED: "1",
      },
      // Restart after a failure (exit 1), never after a finished run or a graceful stop (0)
      // or a configuration error (2: a restart cannot fix it).
      autorestart: true,
      stop_exit_codes: [0, 2],
      // 10 s between restarts. Not exp_backoff_restart_delay: when set, PM2 uses it instead of
      // restart_delay (https://pm2.keymetrics.io/docs/usage/restart-strategies/).
      restart_delay: 10000,
      // A start that fails within min_uptime counts as unstable; PM2 stops restarting after
      // max_restarts of them. A network outage at boot must not end the bot: keep trying.
      min_uptime: "60s",
      max_restarts: 1000,
      // PM2 stops a process with SIGINT (PM2 has no per-app signal setting; only the daemon's
      // PM2_KILL_SIGNAL changes it). zerobeta treats SIGINT exactly like SIGTERM: it finishes
      // the current step, flushes the journal and closes venues. SIGKILL follows after
      // kill_timeout (ms).
      kill_timeout: 60000,
      // Never restart on file changes: a trading process restarts only on purpose.
      watch: false,
      // One log: the agent writes its JSON lines to stderr and the end-of-run summary to
      // stdout; both go to the same file (PM2 would otherwise put every JSON line in the
      // "error" log). Log lines already carry an ISO UTC `ts`.
      out_file: "/var/log/zerobeta/zerobeta.log",
      error_file: "/var/log/zerobeta/zerobeta.log",
      time: false,
      merge_logs: true,
    },
  ],
};
