"use strict";
// Baseliner's activity reporter, preinstalled in every workspace's code-server.
//
// code-server's own heartbeat counts open connections, not work, so pay never rests on it. This
// extension tells the portal when a person works: edits in real files, terminal use, the window
// gaining focus, the cursor moving. It sends at most one POST a minute (the pattern of Eclipse
// Che's activity tracker): the first activity at once, later ones batched to a minute after the
// last post, and nothing at all while nobody works. The answer is the run's clock, shown in the
// status bar, with a notice when 60, 15 and 5 minutes of working time are left.
//
// The status bar shows the same working time as the portal's run page, in the same H:MM:SS: both
// read the portal's clock (GET /api/v1/task/clock here, which is not counted as work), tick by
// themselves each second while it runs, and take the portal's reading again every 30 s.
//
// Plain CommonJS on Node's own modules: no build step, no dependencies. Failures are logged to
// the "Baseliner" output channel and never interrupt the expert.

const fs = require("fs");
const http = require("http");
const https = require("https");
const os = require("os");
const path = require("path");

const API_PATH = "/api/v1/task/activity";
const CLOCK_PATH = "/api/v1/task/clock";
const INTERVAL_MS = 60 * 1000;
const SYNC_MS = 30 * 1000; // as the portal's page (templates/static/clock.js)
const TICK_MS = 1000;
const TIMEOUT_MS = 15 * 1000;
const MAX_ANSWER_BYTES = 64 * 1024;
const URL_ENV = "BASELINER_TASK_URL";
const TOKEN_ENV = "BASELINER_TASK_TOKEN";
// When several kinds happen within one minute, the post names the strongest.
const RANK = { focus: 1, terminal: 2, edit: 3 };
// Documents a person edits; output channels, git's views and the like are not work.
const WORK_SCHEMES = new Set(["file", "untitled", "vscode-notebook-cell", "vscode-remote"]);
const LAST_WARNING_KEY = "baseliner.lastWarningMinutes";

/** The portal's address and the run's token: the same sources as the `task` command
 * (fleet/task_command/client.py), re-read on every post because a restarted portal rewrites
 * the address. */
function readSettings(env, home) {
  env = env || process.env;
  home = home || env.HOME || os.homedir();
  const setting = (name, variable) => {
    const value = (env[variable] || "").trim();
    if (value) {
      return value;
    }
    try {
      return fs.readFileSync(path.join(home, ".baseliner", name), "utf8").trim();
    } catch (error) {
      return "";
    }
  };
  return { url: setting("url", URL_ENV), token: setting("token", TOKEN_ENV) };
}

/** POST a JSON body with the run's token; resolves to {status, body} (body parsed when JSON). */
function postJson(base, token, payload, timeoutMs) {
  return callPortal("POST", base, API_PATH, token, payload, timeoutMs);
}

/** GET the run's clock (not counted as activity); resolves to {status, body}. */
function getClock(base, token, timeoutMs) {
  return callPortal("GET", base, CLOCK_PATH, token, null, timeoutMs);
}

function callPortal(method, base, apiPath, token, payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const target = new URL(base.replace(/\/+$/, "") + apiPath);
    const client = target.protocol === "https:" ? https : http;
    const data = payload === null ? null : Buffer.from(JSON.stringify(payload));
    const headers = {
      Authorization: `Bearer ${token}`,
      Accept: "application/json",
      "User-Agent": "baseliner-activity/1",
    };
    if (data !== null) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = data.length;
    }
    const request = client.request(
      target,
      {
        method,
        timeout: timeoutMs,
        headers,
      },
      (response) => {
        const chunks = [];
        let size = 0;
        response.on("data", (chunk) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) {
            chunks.push(chunk);
          }
        });
        response.on("end", () => {
          let body = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch (error) {
            body = null;
          }
          resolve({ status: response.statusCode || 0, body });
        });
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(data === null ? undefined : data);
  });
}

/** Batches activity into at most one report per interval: the first at once, later ones when
 * the interval since the last report is over; nothing when nothing happened. */
class Reporter {
  constructor(report, intervalMs, now) {
    this.report = report; // async (kind) => void
    this.intervalMs = intervalMs;
    this.now = now || Date.now;
    this.pending = null;
    this.lastSent = -Infinity;
    this.timer = null;
    this.sending = false;
    this.stopped = false;
  }

  note(kind) {
    if (this.stopped) {
      return;
    }
    if (!this.pending || RANK[kind] > RANK[this.pending]) {
      this.pending = kind;
    }
    this.schedule();
  }

  schedule() {
    if (this.stopped || this.timer || this.sending || !this.pending) {
      return;
    }
    const wait = Math.max(0, this.lastSent + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, wait);
  }

  async send() {
    const kind = this.pending;
    this.pending = null;
    this.sending = true;
    this.lastSent = this.now();
    try {
      await this.report(kind);
    } catch (error) {
      // report() logs its own failures; a lost minute is not retried (it would be misdated).
    } finally {
      this.sending = false;
      this.schedule();
    }
  }

  dispose() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/** "1:05:00" for 3900 seconds: the portal's format (webapp.templating.hms, clock.js). */
function hms(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor(total / 60) % 60;
  const s = total % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** The portal's last clock reading, ticking by itself while the clock runs (as the portal's
 * page does), so the status bar is never a minute behind the run page. */
class ClockView {
  constructor(now) {
    this.now = now || Date.now;
    this.reading = null;
    this.readAt = 0;
  }

  update(reading) {
    this.reading = reading || null;
    this.readAt = this.now();
  }

  running() {
    const r = this.reading;
    return Boolean(r) && r.clock === "running" && (r.status === undefined || r.status === "active");
  }

  elapsedS() {
    return this.running() ? Math.max(0, (this.now() - this.readAt) / 1000) : 0;
  }

  workingS() {
    return this.reading ? (Number(this.reading.working_s) || 0) + this.elapsedS() : null;
  }

  leftS() {
    const r = this.reading;
    if (!r || typeof r.time_left_s !== "number") {
      return null;
    }
    return Math.max(0, r.time_left_s - this.elapsedS());
  }

  /** {text, tooltip, label} for the status bar item; null before the first reading. */
  display() {
    const r = this.reading;
    if (!r) {
      return null;
    }
    const worked = hms(this.workingS());
    const paused = r.clock === "paused";
    const lines = [`Working time on this run: ${worked} (as on the portal's run page)`];
    if (paused && Array.isArray(r.paused_by) && r.paused_by.length) {
      lines.push(`Clock paused (${r.paused_by.join(", ")})`);
    }
    const left = this.leftS();
    if (left !== null) {
      lines.push(`Left before the limit: ${hms(left)}`);
    }
    return {
      text: paused ? `$(debug-pause) ${worked} paused` : `$(watch) ${worked}`,
      label: `Working time ${worked}${paused ? " paused" : ""}`,
      tooltip: lines.join("\n"),
    };
  }
}

function warningText(minutes) {
  return (
    `${minutes} minutes of working time left. At the limit your task folder is scored as your` +
    " final checkpoint and the IDE stops."
  );
}

function activate(context) {
  const vscode = require("vscode");
  const log = vscode.window.createOutputChannel("Baseliner", { log: true });
  const item = vscode.window.createStatusBarItem(
    "baseliner.clock",
    vscode.StatusBarAlignment.Left,
    100,
  );
  item.name = "Baseliner working time";
  context.subscriptions.push(log, item);
  let lastProblem = "";

  const problem = (text) => {
    if (text !== lastProblem) {
      log.warn(text); // once per distinct problem, not once a minute
      lastProblem = text;
    }
  };

  const view = new ClockView();
  let ended = false;
  const render = () => {
    const shown = ended ? null : view.display();
    if (!shown) {
      return;
    }
    item.text = shown.text;
    item.accessibilityInformation = { label: shown.label };
    item.tooltip = shown.tooltip;
    item.show();
  };
  const showClock = (clock) => {
    view.update(clock);
    render();
  };
  const endClock = (detail) => {
    ended = true;
    log.info(`The run has ended (${detail || "HTTP 410"}); no more reports.`);
    item.text = "$(watch) run ended";
    item.tooltip = "This run has ended. Your checkpoints are saved: see the portal.";
    item.show();
  };

  const warn = (minutes) => {
    const last = context.globalState.get(LAST_WARNING_KEY, null);
    if (minutes !== last) {
      context.globalState.update(LAST_WARNING_KEY, minutes);
      if (typeof minutes === "number") {
        vscode.window.showWarningMessage(warningText(minutes));
      }
    }
  };

  let reporter = null;
  const report = async (kind) => {
    const { url, token } = readSettings();
    if (!url || !token) {
      problem("This workspace has no portal address or run token (~/.baseliner); not reporting.");
      return;
    }
    let answer;
    try {
      answer = await postJson(url, token, { kind }, TIMEOUT_MS);
    } catch (error) {
      problem(`Could not reach the portal at ${url}: ${error.message}`);
      return;
    }
    const body = answer.body || {};
    if (answer.status === 200) {
      lastProblem = "";
      log.info(`Reported ${kind}; working time ${hms(body.working_s || 0)}.`);
      showClock(body);
      warn(body.warning_minutes === undefined ? null : body.warning_minutes);
    } else if (answer.status === 410) {
      endClock(body.detail);
      reporter.dispose();
    } else {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      problem(`The portal answered HTTP ${answer.status}: ${detail || "no detail"}`);
    }
  };
  reporter = new Reporter(report, INTERVAL_MS);
  context.subscriptions.push({ dispose: () => reporter.dispose() });

  // The clock at once (not only after the first activity), then the portal's reading every
  // 30 s; between readings it ticks here each second.
  const sync = async () => {
    if (ended) {
      return;
    }
    const { url, token } = readSettings();
    if (!url || !token) {
      return; // report() says so in the log
    }
    try {
      const answer = await getClock(url, token, TIMEOUT_MS);
      if (answer.status === 200 && answer.body) {
        showClock(answer.body);
        if (answer.body.status && !["active", "provisioning"].includes(answer.body.status)) {
          endClock(`the run is ${answer.body.status}`);
          reporter.dispose();
        }
      }
    } catch (error) {
      problem(`Could not read the clock at ${url}: ${error.message}`);
    }
  };
  const ticker = setInterval(render, TICK_MS);
  const syncer = setInterval(sync, SYNC_MS);
  context.subscriptions.push({ dispose: () => [ticker, syncer].forEach(clearInterval) });
  sync();

  const isWork = (uri) => WORK_SCHEMES.has(uri.scheme);
  const on = (event, handler) => {
    if (typeof event === "function") {
      context.subscriptions.push(event(handler));
    }
  };
  on(vscode.workspace.onDidChangeTextDocument, (e) => {
    if (e.contentChanges.length > 0 && isWork(e.document.uri)) {
      reporter.note("edit");
    }
  });
  on(vscode.window.onDidChangeTextEditorSelection, (e) => {
    if (e.kind !== undefined && isWork(e.textEditor.document.uri)) {
      reporter.note("focus");
    }
  });
  on(vscode.window.onDidChangeWindowState, (state) => {
    if (state.focused && state.active !== false) {
      reporter.note("focus");
    }
  });
  on(vscode.window.onDidOpenTerminal, () => reporter.note("terminal"));
  on(vscode.window.onDidChangeActiveTerminal, (terminal) => {
    if (terminal) {
      reporter.note("terminal");
    }
  });
  on(vscode.window.onDidChangeTerminalState, (terminal) => {
    if (terminal.state && terminal.state.isInteractedWith) {
      reporter.note("terminal");
    }
  });
  // A command started in a terminal (needs shell integration; absent from older APIs).
  on(vscode.window.onDidStartTerminalShellExecution, () => reporter.note("terminal"));
  log.info(`Reporting activity at most once every ${INTERVAL_MS / 1000} s.`);
}

function deactivate() {}

module.exports = {
  activate,
  deactivate,
  Reporter,
  ClockView,
  readSettings,
  postJson,
  getClock,
  hms,
};
